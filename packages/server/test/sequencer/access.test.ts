/**
 * Room access end to end through the hub core with real ts-mls members (DESIGN §10,
 * src/sequencer/access.ts and roomPolicy.ts): who may fetch the GroupInfo and join by
 * external commit, who may change the policy, who may remove whom, and the group id bound
 * to the room id. roomPolicy.property.test.ts covers the policy state machine alone.
 */
import { decodePayload, Opcode, stateCborEncode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { decodeRoomState } from "../../src/sequencer/roomState.js";
import {
  type Client,
  type Env,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  openHub,
  send,
  sendCommit,
} from "../hub/harness.js";
import {
  commit,
  createRoom,
  externalJoin,
  groupInfoBytes,
  memberProposal,
  process,
} from "../mls/mlsClients.js";
import { moderatedEnv } from "../moderation/support.js";
import { roomWith } from "./room.js";

const policy = (env: Env, c: Client, roomId: bigint, p: Record<string, unknown>) =>
  send(env, c, frameOf(c, Opcode.ROOM_POLICY, roomId, 1n, p as never));

async function joinBy(env: Env, joiner: Client, member: Client, roomId: bigint, epoch = 1n) {
  const j = await externalJoin(env.cs, joiner.device, member.state!);
  return send(
    env,
    joiner,
    frameOf(joiner, Opcode.EXTERNAL_COMMIT, roomId, epoch, {
      commit: j.commit,
      group_info: j.groupInfo,
    }),
  );
}

describe("room access", () => {
  it("an outsider learns nothing and cannot join an invite-only room; an invitee joins once", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"], { joinRule: "invite" });
    const [alice] = members as [Client, Client];
    const dave = await makeClient(env, "dave");
    const fetch = (id: bigint) =>
      send(env, dave, frameOf(dave, Opcode.GROUP_INFO_FETCH, id, 0n, {}));
    const known = await fetch(roomId);
    const unknown = await fetch(roomId + 1n);
    // The same typed error whether or not the room exists, no epoch, no members.
    expect(errorName(known)).toBe("NO_ACCESS");
    expect(known.error).toEqual(unknown.error);
    expect(known.frame.header.epoch).toBe(0n);
    expect(decodePayload(Opcode.ERROR, known.frame.payload)).toEqual(
      decodePayload(Opcode.ERROR, unknown.frame.payload),
    );
    // An external commit at a wrong epoch still learns nothing (no STALE_EPOCH{expected}).
    expect(errorName(await joinBy(env, dave, alice, roomId, 0n))).toBe("NO_ACCESS");
    expect(errorName(await joinBy(env, dave, alice, roomId))).toBe("NO_ACCESS");
    // Nor the policy.
    const read = await send(env, dave, frameOf(dave, Opcode.ROOM_POLICY_FETCH, roomId, 0n, {}));
    expect(errorName(read)).toBe("NO_ACCESS");

    // Alice (owner) invites dave: he fetches and joins; the invite is used up.
    const inv = await policy(env, alice, roomId, {
      action: "invite",
      user_id: "dave",
      expires_at: env.time.now() / 1000n + 60n,
    });
    expect(inv.opcode).toBe(Opcode.ACK);
    expect((await fetch(roomId)).opcode).toBe(Opcode.GROUP_INFO);
    expect((await joinBy(env, dave, alice, roomId)).opcode).toBe(Opcode.ACK);
    const state = await send(env, dave, frameOf(dave, Opcode.ROOM_POLICY_FETCH, roomId, 2n, {}));
    const p = decodePayload(Opcode.ROOM_POLICY_STATE, state.frame.payload);
    expect(p).toMatchObject({ join_rule: "invite", invites: [], members_are_admins: false });
    expect(p.roles).toEqual([{ user_id: "alice", role: "owner" }]);
  });

  it("an expired or revoked invite admits nobody; a non-admin changes nothing", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"], { joinRule: "invite" });
    const [alice, bob] = members as [Client, Client];
    const dave = await makeClient(env, "dave");
    const now = env.time.now() / 1000n;
    for (const p of [
      { action: "invite", user_id: "dave", expires_at: now + 60n },
      { action: "set_role", user_id: "bob", role: "admin" },
      { action: "set_join_rule", join_rule: "open" },
    ]) {
      const r = await policy(env, bob, roomId, p);
      expect(errorName(r)).toBe("FORBIDDEN");
    }
    expect(
      (
        await policy(env, alice, roomId, {
          action: "invite",
          user_id: "dave",
          expires_at: now + 2n,
        })
      ).opcode,
    ).toBe(Opcode.ACK);
    env.time.advance(3000);
    expect(errorName(await joinBy(env, dave, alice, roomId))).toBe("NO_ACCESS");
    const later = env.time.now() / 1000n + 60n;
    await policy(env, alice, roomId, { action: "invite", user_id: "dave", expires_at: later });
    await policy(env, alice, roomId, { action: "revoke", user_id: "dave" });
    expect(errorName(await joinBy(env, dave, alice, roomId))).toBe("NO_ACCESS");
    // Open to every user: dave joins without an invite.
    await policy(env, alice, roomId, { action: "set_join_rule", join_rule: "open" });
    expect((await joinBy(env, dave, alice, roomId)).opcode).toBe(Opcode.ACK);
  });

  it("removing another user is for room admins, by proposal or by commit", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob", "carol"], {
      joinRule: "invite",
    });
    const [alice, bob] = members as [Client, Client, Client];
    const proposal = await memberProposal(env.cs, bob.state!, {
      proposalType: "remove",
      remove: { removed: 2 },
    });
    const p = await send(
      env,
      bob,
      frameOf(bob, Opcode.PROPOSAL, roomId, 1n, { message: proposal.bytes }),
    );
    expect(errorName(p)).toBe("FORBIDDEN");
    const byBob = await commit(env.cs, bob.state!, [
      { proposalType: "remove", remove: { removed: 2 } },
    ]);
    expect(errorName(await sendCommit(env, bob, roomId, 1n, byBob))).toBe("FORBIDDEN");
    // Adds are for every member.
    const erin = await makeClient(env, "erin");
    const add = await commit(env.cs, bob.state!, [
      { proposalType: "add", add: { keyPackage: erin.device.publicPackage } },
    ]);
    expect((await sendCommit(env, bob, roomId, 1n, add)).opcode).toBe(Opcode.ACK);
    // The owner removes carol by commit.
    alice.state = await process(env.cs, alice.state!, add.commitMessage);
    const byAlice = await commit(env.cs, alice.state, [
      { proposalType: "remove", remove: { removed: 2 } },
    ]);
    expect((await sendCommit(env, alice, roomId, 2n, byAlice)).opcode).toBe(Opcode.ACK);
  });

  it("ROOM_CREATE binds the group id to the room id: one GroupInfo opens one room", async () => {
    const env = await makeEnv();
    const alice = await makeClient(env, "alice");
    const state = await createRoom(env.cs, env.hubMls, alice.device, 500n);
    const gi = await groupInfoBytes(env.cs, state);
    const create = (roomId: bigint) =>
      send(env, alice, frameOf(alice, Opcode.ROOM_CREATE, roomId, 0n, { group_info: gi }));
    for (const other of [501n, 502n, 0n]) {
      expect(errorName(await create(other))).toBe("INVALID_GROUP_INFO");
    }
    expect(env.hub.roomCount).toBe(0);
    expect((await create(500n)).opcode).toBe(Opcode.ACK);
    // A restart keeps the policy the room was created with.
    await env.hub.close();
    await openHub(env);
    env.hub.attachSession(alice.sessionId, alice.signer.publicKey, "alice");
    expect(await env.hub.roomRole(500n, "alice")).toBe("owner");
    expect(await env.hub.roomRole(500n, "bob")).toBeUndefined();
  });

  it("a kick takes the user's invite and role; room admins moderate their room only", async () => {
    const env = await moderatedEnv({ limits: { commitDelayMs: 100, commitDeadlineMs: 1000 } });
    const { members, roomId } = await roomWith(["alice", "bob", "carol"], {
      env,
      joinRule: "invite",
    });
    const [alice, bob] = members as [Client, Client, Client];
    const until = env.time.now() / 1000n + 600n;
    await policy(env, alice, roomId, { action: "set_role", user_id: "bob", role: "admin" });
    await policy(env, alice, roomId, { action: "invite", user_id: "dave", expires_at: until });
    expect(await env.hub.roomRole(roomId, "bob")).toBe("admin");

    // dave only holds an invite: the kick takes it (a sequenced expel), nothing else.
    const kicked = await env.moderation.kick(roomId, "dave", "x", "admin:test");
    expect(kicked).toMatchObject({ ok: true, leaves: [] });
    const dave = await makeClient(env, "dave");
    expect(
      errorName(await send(env, dave, frameOf(dave, Opcode.GROUP_INFO_FETCH, roomId, 0n, {}))),
    ).toBe("NO_ACCESS");
    expect(errorName(await joinBy(env, dave, alice, roomId))).toBe("NO_ACCESS");
    const expel = env.out.filter(
      (o) => o.target.kind === "members" && o.frame.header.opcode === Opcode.ROOM_POLICY,
    );
    expect(decodePayload(Opcode.ROOM_POLICY, expel.at(-1)!.frame.payload)).toEqual({
      action: "expel",
      user_id: "dave",
    });

    // In band: the room's admins kick and ban from the room; a member cannot; nobody but a
    // hub moderator bans hub-wide.
    env.hub.setModeration(
      inBandModeration(env.moderation, {
        moderators: () => [],
        roomRole: (r, u) => env.hub.roomRole(r, u),
        clock: env.time,
      }),
    );
    const carol = members[2]!;
    const byCarol = frameOf(carol, Opcode.KICK, roomId, 1n, { user_id: "bob", reason: "" });
    expect(errorName(await send(env, carol, byCarol))).toBe("FORBIDDEN");
    expect(env.storage.readAudit().at(-1)).toMatchObject({
      kind: "moderation_refused",
      actor: "user:carol",
      detail: { reason: "not_moderator", opcode: "KICK" },
    });
    const hubBan = frameOf(bob, Opcode.BAN, roomId, 1n, {
      user_id: "erin",
      scope: "hub",
      reason: "",
    });
    expect(errorName(await send(env, bob, hubBan))).toBe("FORBIDDEN");
    const byBob = frameOf(bob, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "spam" });
    expect((await send(env, bob, byBob)).opcode).toBe(Opcode.ACK);
    expect(env.storage.readAudit().at(-1)).toMatchObject({ kind: "kick", actor: "user:bob" });
    // Not an admin of another room.
    const elsewhere = frameOf(bob, Opcode.KICK, roomId + 1n, 0n, { user_id: "x", reason: "" });
    expect(errorName(await send(env, bob, elsewhere))).toBe("FORBIDDEN");
    // Kicking bob takes his admin role (sequenced, so every member sees it).
    expect((await env.moderation.kick(roomId, "bob", "x", "admin:test")).ok).toBe(true);
    expect(await env.hub.roomRole(roomId, "bob")).toBe("member"); // until the commit lands
    // A new request (the same bytes again would be a repeat: its first answer, DESIGN §4).
    const again = frameOf(bob, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "spam" });
    expect(errorName(await send(env, bob, again))).toBe("FORBIDDEN");
  });
});

describe("room policy storage", () => {
  it("a room stored before policies reads back with members as admins", () => {
    const legacy = stateCborEncode({
      v: 1,
      epoch: 0n,
      group: new Uint8Array([1]),
      group_info: new Uint8Array([2]),
      hlc: 0n,
      pending: [],
    });
    expect(decodeRoomState(legacy).policy).toMatchObject({
      joinRule: "invite",
      membersAreAdmins: true,
    });
  });
});
