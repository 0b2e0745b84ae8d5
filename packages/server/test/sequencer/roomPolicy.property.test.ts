/**
 * Properties of the room policy state machine (src/sequencer/roomPolicy.ts, DESIGN §10):
 * random sequences of ROOM_POLICY changes by random actors (members or not, any role),
 * the hub's expels, and the passage of time. access.test.ts covers the same rules end to
 * end through the hub core with real ts-mls members.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  changePolicy,
  consumeInvites,
  LEGACY_ROOM_POLICY,
  mayJoin,
  newRoomPolicy,
  POLICY_LIMITS,
  type PolicyActor,
  type PolicyChange,
  policyFromPayload,
  policyPayload,
  type Role,
  type RoomPolicy,
  roleOf,
} from "../../src/sequencer/roomPolicy.js";
import { isRefusal } from "../../src/sequencer/rules.js";

const USERS = ["u0", "u1", "u2", "u3", "u4@example.org", "u5@other.net"];
const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };
const NOW = 1_800_000_000n;

const user = fc.constantFrom(...USERS);
const change: fc.Arbitrary<PolicyChange> = fc.oneof(
  fc.record({
    action: fc.constant("invite" as const),
    user_id: user,
    expires_at: fc.bigInt({ min: NOW - 10n, max: NOW + 400n * 24n * 3600n }),
  }),
  fc.record({ action: fc.constant("revoke" as const), user_id: user }),
  fc.record({
    action: fc.constant("set_role" as const),
    user_id: user,
    role: fc.constantFrom("owner" as const, "admin" as const, "member" as const),
  }),
  fc.record({
    action: fc.constant("set_join_rule" as const),
    join_rule: fc.constantFrom("invite" as const, "open" as const),
    allowed_domains: fc.subarray(["example.org", "other.net"]),
  }),
  fc.record({ action: fc.constant("expel" as const), user_id: user }),
);
/** One step: who asks (a user, with whether it is a member now, or the hub), what, when. */
const step = fc.record({
  actor: fc.oneof(
    { weight: 9, arbitrary: fc.record({ userId: user, isMember: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant("hub" as const) },
  ),
  change,
  dt: fc.bigInt({ min: 0n, max: 3600n }),
});
const start = fc.oneof(
  fc.constant(LEGACY_ROOM_POLICY),
  fc.constantFrom(...USERS).map((owner) => newRoomPolicy(owner) as RoomPolicy),
);

const rank = (p: RoomPolicy, u: string, member: boolean) => {
  const r = roleOf(p, u, member);
  return r === undefined ? 0 : RANK[r];
};
const owners = (p: RoomPolicy) => [...p.roles.values()].filter((r) => r === "owner").length;

describe("room policy (property)", () => {
  it("no change lets a non-admin act, nor anyone grant above its own role; an owner stays", () => {
    fc.assert(
      fc.property(start, fc.array(step, { maxLength: 40 }), (initial, steps) => {
        let p = initial;
        let now = NOW;
        for (const s of steps) {
          now += s.dt;
          const actor: PolicyActor =
            s.actor === "hub" ? { kind: "hub" } : { kind: "user", ...s.actor };
          const next = changePolicy(p, actor, s.change, now);
          if (isRefusal(next)) continue;
          if (actor.kind === "hub") {
            // The hub only expels: nobody gains anything.
            expect(s.change.action).toBe("expel");
            for (const u of USERS)
              expect(rank(next, u, true)).toBeLessThanOrEqual(rank(p, u, true));
          } else {
            expect(s.change.action).not.toBe("expel");
            // Only admins and owners change a policy.
            const actorRank = rank(p, actor.userId, actor.isMember);
            expect(actorRank).toBeGreaterThanOrEqual(RANK.admin);
            for (const u of USERS) {
              // No role is raised above the actor's own.
              if (rank(next, u, true) > rank(p, u, true)) {
                expect(rank(next, u, true)).toBeLessThanOrEqual(actorRank);
              }
            }
          }
          // A room with an owner keeps one (only the hub's expel can take the last).
          if (owners(p) > 0 && actor.kind === "user") expect(owners(next)).toBeGreaterThan(0);
          expect(next.invites.size).toBeLessThanOrEqual(POLICY_LIMITS.maxInvites);
          // The stored form reads back to the same policy.
          expect(policyFromPayload(policyPayload(next))).toEqual(next);
          p = next;
        }
      }),
    );
  });

  it("a member who is not an admin never changes anything, whatever it asks", () => {
    fc.assert(
      fc.property(user, user, change, (owner, asker, c) => {
        fc.pre(owner !== asker);
        const p = newRoomPolicy(owner) as RoomPolicy;
        const r = changePolicy(p, { kind: "user", userId: asker, isMember: true }, c, NOW);
        expect(isRefusal(r) && r.code).toBe("FORBIDDEN");
      }),
    );
  });

  it("mayJoin: an unexpired invite, or an open room of the user's domain; used up on join", () => {
    fc.assert(
      fc.property(user, fc.bigInt({ min: -5n, max: 5n }), (u, offset) => {
        const owner = newRoomPolicy("u0") as RoomPolicy;
        const admin = { kind: "user", userId: "u0", isMember: true } as const;
        const invited = changePolicy(
          owner,
          admin,
          { action: "invite", user_id: u, expires_at: NOW + 10n },
          NOW,
        );
        if (isRefusal(invited)) throw new Error(invited.message);
        expect(mayJoin(invited, u, NOW + 10n + offset)).toBe(offset < 0n);
        expect(mayJoin(consumeInvites(invited, [u]), u, NOW)).toBe(false);
        const open = changePolicy(
          owner,
          admin,
          { action: "set_join_rule", join_rule: "open", allowed_domains: ["example.org"] },
          NOW,
        );
        if (isRefusal(open)) throw new Error(open.message);
        expect(mayJoin(open, u, NOW)).toBe(u.endsWith("@example.org"));
        const openToAll = newRoomPolicy("u0", "open") as RoomPolicy;
        expect(mayJoin(openToAll, u, NOW)).toBe(true);
        expect(mayJoin(owner, u, NOW)).toBe(false);
      }),
    );
  });

  it("refuses malformed changes with typed errors", () => {
    const p = newRoomPolicy("u0") as RoomPolicy;
    const admin = { kind: "user", userId: "u0", isMember: true } as const;
    const code = (c: PolicyChange) => {
      const r = changePolicy(p, admin, c, NOW);
      return isRefusal(r) ? r.code : "ok";
    };
    expect(code({ action: "invite", user_id: "x" })).toBe("BAD_PAYLOAD");
    expect(code({ action: "invite", user_id: "x", expires_at: NOW })).toBe("BAD_PAYLOAD");
    expect(code({ action: "invite", user_id: "x", expires_at: NOW + 10n ** 9n })).toBe(
      "BAD_PAYLOAD",
    );
    expect(code({ action: "revoke" })).toBe("BAD_PAYLOAD");
    expect(code({ action: "set_role", user_id: "x" })).toBe("BAD_PAYLOAD");
    expect(code({ action: "set_join_rule" })).toBe("BAD_PAYLOAD");
    expect(code({ action: "set_join_rule", join_rule: "invite", allowed_domains: ["a"] })).toBe(
      "BAD_PAYLOAD",
    );
    expect(code({ action: "set_join_rule", join_rule: "open", allowed_domains: ["a@b"] })).toBe(
      "BAD_PAYLOAD",
    );
    expect(code({ action: "set_role", user_id: "u0", role: "admin" })).toBe("FORBIDDEN");
    expect(code({ action: "expel", user_id: "u1" })).toBe("FORBIDDEN");
    expect(isRefusal(newRoomPolicy("u0", "invite", ["example.org"]))).toBe(true);
    // The hub only expels.
    const hub = changePolicy(p, { kind: "hub" }, { action: "revoke", user_id: "u1" }, NOW);
    expect(isRefusal(hub) && hub.code).toBe("FORBIDDEN");
  });
});
