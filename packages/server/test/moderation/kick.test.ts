/**
 * Kick (issue 8, DESIGN §6): the hub proposes the removal of every device of a user as the
 * room's external sender; nothing else is accepted until a member commits it; the hub
 * asks a live member and re-asks another when that one does not commit in time; the kick
 * is audited with its reason. Members are real ts-mls clients.
 */
import { decodePayload, Opcode } from "@kalandra/proto";
import { decodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { buildExternalRemove, RemovalError } from "../../src/moderation/removal.js";
import { deliveredTo, errorName, frameOf, makeClient, send, sendCommit } from "../hub/harness.js";
import { commit, externalJoin, process } from "../mls/mlsClients.js";
import { appMessage, roomWith } from "../sequencer/room.js";
import { moderatedEnv } from "./support.js";

const limits = { commitDelayMs: 100, commitDeadlineMs: 1000 };

describe("kick", () => {
  it("removes every device of the user; the eviction race; re-asks a committer", async () => {
    const env = await moderatedEnv({ limits });
    const alice = await makeClient(env, "alice");
    const bob1 = await makeClient(env, "bob");
    const bob2 = await makeClient(env, "bob");
    const carol = await makeClient(env, "carol");
    const { roomId } = await roomWith([], { env, members: [alice, bob1, bob2, carol] });

    const r = await env.moderation.kick(roomId, "bob", "spam", "admin:ops");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.leaves).toEqual([1, 2]);
    expect(r.logIndexes).toEqual([2n, 3n]);
    // The proposals are hub frames: sender 0, EXTERNAL flag, fanned out to the members.
    const proposals = deliveredTo(env, alice.senderId, Opcode.PROPOSAL);
    expect(proposals).toHaveLength(2);
    for (const p of proposals) {
      expect(p.header.senderId).toBe(0n);
      expect(p.header.flags & 1).toBe(1);
    }
    const audit = env.storage.readAudit().filter((a) => a.kind === "kick");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: "admin:ops",
      roomId,
      detail: { user_id: "bob", reason: "spam", leaves: [1, 2] },
    });

    // Nothing without the removal: app messages, and a joiner's external commit.
    expect(errorName(await send(env, alice, appMessage(alice, roomId, 1n)))).toBe(
      "MUST_INCLUDE_PENDING_REMOVALS",
    );
    const dave = await makeClient(env, "dave");
    const early = await externalJoin(env.cs, dave.device, alice.state!);
    const refused = await send(
      env,
      dave,
      frameOf(dave, Opcode.EXTERNAL_COMMIT, roomId, 1n, {
        commit: early.commit,
        group_info: early.groupInfo,
      }),
    );
    expect(errorName(refused)).toBe("MUST_INCLUDE_PENDING_REMOVALS");

    // A live member that is not being removed is asked; then another one after the deadline.
    env.time.advance(100);
    const askedFirst = [alice, carol].filter(
      (m) => deliveredTo(env, m.senderId, Opcode.COMMIT_REQUEST).length === 1,
    );
    expect(askedFirst).toHaveLength(1);
    for (const b of [bob1, bob2])
      expect(deliveredTo(env, b.senderId, Opcode.COMMIT_REQUEST)).toHaveLength(0);
    env.time.advance(1000);
    for (const m of [alice, carol])
      expect(deliveredTo(env, m.senderId, Opcode.COMMIT_REQUEST)).toHaveLength(1);
    const req = deliveredTo(env, carol.senderId, Opcode.COMMIT_REQUEST)[0]!;
    expect(decodePayload(Opcode.COMMIT_REQUEST, req.payload)).toMatchObject({
      epoch: 1n,
      pending: 2,
    });

    // Carol commits the hub's proposals.
    let st = carol.state!;
    for (const p of proposals) {
      const msg = decodeMlsMessage(decodePayload(Opcode.PROPOSAL, p.payload).message, 0)![0];
      st = await process(env.cs, st, msg);
    }
    const c = await commit(env.cs, st);
    const ok = await sendCommit(env, carol, roomId, 1n, c);
    expect(ok.opcode).toBe(Opcode.ACK);
    carol.state = c.state;

    // The kicked devices are out of the MLS group and of the room.
    let bobState = bob1.state!;
    for (const p of proposals) {
      const msg = decodeMlsMessage(decodePayload(Opcode.PROPOSAL, p.payload).message, 0)![0];
      bobState = await process(env.cs, bobState, msg);
    }
    bobState = await process(env.cs, bobState, c.commitMessage);
    expect(bobState.groupActiveState.kind).toBe("removedFromGroup");
    expect(errorName(await send(env, bob1, appMessage(bob1, roomId, 2n)))).toBe("NOT_MEMBER");
    expect(errorName(await send(env, bob2, appMessage(bob2, roomId, 2n)))).toBe("NOT_MEMBER");
    // The others continue.
    expect((await send(env, carol, appMessage(carol, roomId, 2n))).opcode).toBe(Opcode.ACK);
    // The joiner succeeds after the removal commit.
    const late = await externalJoin(env.cs, dave.device, carol.state!);
    const joined = await send(
      env,
      dave,
      frameOf(dave, Opcode.EXTERNAL_COMMIT, roomId, 2n, {
        commit: late.commit,
        group_info: late.groupInfo,
      }),
    );
    expect(joined.opcode).toBe(Opcode.ACK);
  });

  it("refuses users that are not members and unknown rooms; does not propose twice", async () => {
    const env = await moderatedEnv({ limits });
    const { roomId } = await roomWith(["alice", "bob"], { env });
    const none = await env.moderation.kick(roomId, "mallory", "x", "admin");
    expect(none).toMatchObject({ ok: false, refusal: { code: "NOT_MEMBER" } });
    const unknown = await env.moderation.kick(999n, "bob", "x", "admin");
    expect(unknown).toMatchObject({ ok: false, refusal: { code: "UNKNOWN_ROOM" } });
    expect(env.storage.readAudit().filter((a) => a.kind === "kick")).toHaveLength(0);

    const first = await env.moderation.kick(roomId, "bob", "x", "admin");
    expect(first).toMatchObject({ ok: true, leaves: [1] });
    const again = await env.moderation.kick(roomId, "bob", "again", "admin");
    expect(again).toMatchObject({ ok: true, leaves: [] });
    expect(env.storage.readAudit().at(-1)?.detail.already_pending).toEqual([1]);
  });

  it("builds removals only as a listed external sender, from a GroupInfo", async () => {
    const env = await moderatedEnv();
    const { members } = await roomWith(["alice", "bob"], { env });
    const { groupInfoBytes } = await import("../mls/mlsClients.js");
    const gi = await groupInfoBytes(env.cs, members[0]!.state!);
    const bytes = await buildExternalRemove(gi, 1, env.hubSigner);
    const msg = decodeMlsMessage(bytes, 0)![0];
    expect(msg.wireformat).toBe("mls_public_message");
    const { createDeviceSigner } = await import("@kalandra/proto");
    const stranger = createDeviceSigner(new Uint8Array(32).fill(9));
    await expect(buildExternalRemove(gi, 1, stranger)).rejects.toBeInstanceOf(RemovalError);
    await expect(buildExternalRemove(new Uint8Array([1, 2]), 1, env.hubSigner)).rejects.toThrow(
      /GroupInfo/,
    );
  });
});
