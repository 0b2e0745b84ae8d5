/**
 * Attacks on room access (issue 12, DESIGN §10): joining a room by its id without an
 * invite, a kicked or banned member coming back, and draining an offline user's key
 * packages so nobody can add it. No one outside a room's members and invitees may ever
 * hold a leaf in it (room_access); the honest members keep converging.
 */
import { decodePayload, Opcode } from "@kalandra/proto";
import { RawDevice } from "../attacker.js";
import type { Scenario, ScenarioRun } from "../scenario.js";
import { roomWith } from "../workload.js";
import {
  addLater,
  chat,
  count,
  expectMember,
  joinAttempts,
  MALLORY,
  refusedJoins,
} from "./steps.js";

const PLAN: Scenario["plan"] = {
  kinds: ["network", "clientCrash"],
  maxLoss: 0.2,
  protect: [3],
  maxEvents: 2,
  maxSkewMs: 1000,
};

/** At least one attempt refused, and `user` out of the room at the end. */
function keptOut(r: ScenarioRun, user: string, invariant: string): void {
  if (refusedJoins(r) === 0) r.w.violation(invariant, `no join attempt by ${user} was refused`);
  expectMember(r, user, false, invariant);
}

/**
 * At 1 s the hub bans or kicks u3 (its right to the room revoked first), which then tries
 * to rejoin by external commit at `joinsAtMs` while the others chat.
 */
function throwOut(r: ScenarioRun, how: "ban" | "kick", joinsAtMs: readonly number[]): void {
  const { w } = r;
  w.at(1000, `${how} u3`, () => {
    w.access.revoke(r.room, "u3");
    const moderation = w.hub.moderation;
    if (moderation === undefined) return;
    const done =
      how === "ban"
        ? moderation.ban("u3", "room", r.room, "abuse", "admin:sim")
        : moderation.kick(r.room, "u3", "abuse", "admin:sim");
    done.then(
      (o) => {
        if (!o.ok) w.violation("scenario_error", `${how} refused: ${o.refusal.code}`);
      },
      () => undefined,
    );
  });
  joinAttempts(r, "u3", joinsAtMs);
  chat(r, ["u0", "u1", "u2"], 16_000);
}

/**
 * A banned user tries to come back to an open room: the hub bans u3 from the room (and
 * kicks it), u3's external commits are refused from then on (BANNED, while the removal is
 * pending too), and u3 stays out while the others chat.
 */
export const bannedRejoin: Scenario = {
  name: "banned_rejoin",
  description: "a member banned from the room tries to rejoin by external commit: refused",
  clients: 4,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: PLAN,
  hubLimits: { commitDelayMs: 300 },
  async setup(r) {
    // Open to every user: only the ban keeps u3 out (an invite-only room would refuse its
    // rejoin with NO_ACCESS after the kick alone, kicked_rejoin).
    await roomWith(r, ["u1", "u2", "u3"], { joinRule: "open" });
    r.w.access.open(r.room);
  },
  workload(r) {
    throwOut(r, "ban", [2000, 6000, 10_000, 14_000]);
  },
  check(r) {
    keptOut(r, "u3", "ban_applied");
  },
};

/**
 * A kicked member comes back by external commit: the kick revokes its invite, so the hub
 * refuses the GroupInfo and the join; u3 stays out.
 */
export const kickedRejoin: Scenario = {
  ...bannedRejoin,
  name: "kicked_rejoin",
  description:
    "a kicked member tries to rejoin by external commit: refused (the kick revoked its invite)",
  async setup(r) {
    await roomWith(r, ["u1", "u2", "u3"]);
  },
  workload(r) {
    throwOut(r, "kick", [3000, 7000, 11_000, 15_000]);
  },
  check(r) {
    keptOut(r, "u3", "kick_applied");
  },
};

/**
 * An outsider joins by room id: mallory, authenticated as herself and invited nowhere,
 * fetches the room's GroupInfo and sends an external commit. Both are refused.
 */
export const uninvitedJoin: Scenario = {
  name: "uninvited_join",
  description:
    "an authenticated outsider joins a room by its id (GroupInfo + external commit): refused",
  clients: 3,
  chaosMs: 20_000,
  convergeMs: 40_000,
  plan: { ...PLAN, protect: [] },
  async setup(r) {
    await roomWith(r, ["u1", "u2"]);
    r.w.addAttacker("m0", MALLORY);
    await r.w.perform("m0 connects", () => r.w.connectAttacker("m0"));
  },
  workload(r) {
    joinAttempts(r, "m0", [2000, 8000, 14_000]);
    chat(r, ["u0", "u1", "u2"], 16_000);
  },
  check(r) {
    keptOut(r, MALLORY, "outsider_refused");
  },
};

/**
 * Key-package drain: while u3 is offline mallory claims u3's key packages again and again.
 * The claims are rate-limited and u3's last-resort package stays, so u0 can still add u3,
 * which joins from its Welcome inbox when it comes back.
 */
export const kpDrain: Scenario = {
  name: "kp_drain",
  description:
    "an attacker claims an offline user's key packages again and again: the user can still be added",
  clients: 4,
  chaosMs: 30_000,
  convergeMs: 40_000,
  // No loss: a Welcome the inbox pushes on u3's new connection and the link loses waits for
  // u3's next connection (inbox semantics), which never comes once the link is healed.
  plan: { ...PLAN, maxLoss: 0, protect: [0, 3] },
  async setup(r) {
    const { w } = r;
    await roomWith(r, ["u1", "u2"]);
    const mallory = new RawDevice(w, MALLORY, MALLORY, r.rng.fork(MALLORY).bytes(32));
    const ok = await w.perform("mallory authenticates", () => mallory.authenticate(MALLORY));
    if (!ok.ok) throw new Error(`mallory could not authenticate as herself: ${ok.error}`);
    // u3 has uploaded its key packages; it goes offline until well after the add.
    w.crashClient("u3", 18_000);
    w.at(1000, "mallory drains u3's key packages", () => {
      for (let i = 0; i < 6; i++) {
        void mallory.request(Opcode.KP_CLAIM, 0n, 0n, { user_id: "u3" }).then((a) => {
          if (!a.ok) return count(r, `claim refused ${a.error}`);
          const { claims } = decodePayload(Opcode.KP_CLAIMED, a.frame.payload);
          count(r, claims.length > 0 ? "claimed" : "claimed nothing");
        });
      }
    });
  },
  workload(r) {
    addLater(r, "u0", ["u3"], 4000);
    chat(r, ["u0", "u1", "u2"], 25_000);
  },
  check(r) {
    expectMember(r, "u3", true, "drained_user_added");
  },
};
