/**
 * Bans (issue 8): a banned identity cannot come back — its key packages are refused, adds of
 * it are refused, its external commits are refused — per room and hub-wide; a ban kicks;
 * bans are audit records, so they survive a restart and an unban is recorded too.
 */
import { Opcode } from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { addedUserOf, BanList, banOf } from "../../src/moderation/bans.js";
import {
  errorName,
  frameOf,
  makeClient,
  registerDevice,
  send,
  sendCommit,
} from "../hub/harness.js";
import { bytes, commit, device, externalJoin, memberProposal, process } from "../mls/mlsClients.js";
import { roomWith } from "../sequencer/room.js";
import { moderatedEnv, reopen } from "./support.js";

const limits = { commitDelayMs: 100, commitDeadlineMs: 1000 };

describe("bans", () => {
  it("room ban: kicked, cannot be added again nor join by itself; unban lets it back", async () => {
    const env = await moderatedEnv({ limits });
    const { members, roomId } = await roomWith(["alice", "bob", "carol"], { env });
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ];
    const r = await env.moderation.ban("bob", "room", roomId, "abuse", "admin");
    expect(r).toMatchObject({ ok: true, kicked: [{ roomId, leaves: [1] }] });
    expect(env.bans.isBanned("bob", roomId)).toBe(true);
    expect(env.bans.isBanned("bob", roomId + 1n)).toBe(false);
    expect(env.storage.readAudit().map((a) => a.kind)).toEqual(["ban", "kick"]);

    // Alice commits the removal.
    const proposal = env.out.findLast((s) => s.frame.header.opcode === Opcode.PROPOSAL)!;
    const { decodePayload } = await import("@kalandra/proto");
    const { decodeMlsMessage } = await import("ts-mls");
    const pmsg = decodeMlsMessage(
      decodePayload(Opcode.PROPOSAL, proposal.frame.payload).message,
      0,
    )![0];
    const st = await process(env.cs, alice.state!, pmsg);
    const c = await commit(env.cs, st);
    const acked = await sendCommit(env, alice, roomId, 1n, c);
    expect(acked.opcode).toBe(Opcode.ACK);
    alice.state = c.state;

    // Re-adding bob (a fresh key package of a new device) is refused, as a proposal...
    const bobNew = await device(env.cs, "bob");
    await registerDevice(env, bobNew, "bob");
    const proposed = await memberProposal(env.cs, alice.state, {
      proposalType: "add",
      add: { keyPackage: bobNew.publicPackage },
    });
    const refusedProposal = await send(
      env,
      alice,
      frameOf(alice, Opcode.PROPOSAL, roomId, 2n, { message: proposed.bytes }),
    );
    expect(errorName(refusedProposal)).toBe("BANNED");
    expect(addedUserOf(proposed.bytes)).toBe("bob");
    expect(addedUserOf(new Uint8Array([0]))).toBeUndefined();
    expect(addedUserOf(c.commit)).toBeUndefined();
    // ... and inside a commit.
    const add = await commit(env.cs, alice.state, [
      { proposalType: "add", add: { keyPackage: bobNew.publicPackage } },
    ]);
    const refusedAdd = await send(
      env,
      alice,
      frameOf(alice, Opcode.COMMIT, roomId, 2n, {
        commit: add.commit,
        group_info: add.groupInfo,
        welcome: encodeMlsMessage(add.welcome!),
      }),
    );
    expect(errorName(refusedAdd)).toBe("BANNED");

    // Bob's own external commit (and any frame to the room) is refused.
    const j = await externalJoin(env.cs, bob.device, alice.state);
    const ext = frameOf(bob, Opcode.EXTERNAL_COMMIT, roomId, 2n, {
      commit: j.commit,
      group_info: j.groupInfo,
    });
    expect(errorName(await send(env, bob, ext))).toBe("BANNED");
    expect(
      errorName(await send(env, bob, frameOf(bob, Opcode.GROUP_INFO_FETCH, roomId, 0n, {}))),
    ).toBe("BANNED");

    // Bans survive a restart: they are replayed from the audit log.
    await env.hub.close();
    await reopen(env);
    for (const m of members) env.hub.attachSession(m.sessionId, m.signer.publicKey, m.name);
    expect(env.bans.isBanned("bob", roomId)).toBe(true);
    expect(errorName(await send(env, bob, ext))).toBe("BANNED");
    // Other rooms are not affected (this one does not exist: the answer any outsider gets).
    const other = await send(env, bob, frameOf(bob, Opcode.GROUP_INFO_FETCH, roomId + 1n, 0n, {}));
    expect(errorName(other)).toBe("NO_ACCESS");

    expect(await env.moderation.unban("bob", "room", roomId, "admin")).toEqual({ ok: true });
    expect(env.storage.readAudit().at(-1)).toMatchObject({ kind: "unban", roomId });
    expect(await env.moderation.unban("bob", "room", roomId, "admin")).toMatchObject({
      ok: false,
      refusal: { code: "NOT_FOUND" },
    });
    const back = await send(
      env,
      bob,
      frameOf(bob, Opcode.EXTERNAL_COMMIT, roomId, 2n, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(back.opcode).toBe(Opcode.ACK);
    void carol;
  });

  it("hub ban: kicked from every room; key packages refused at upload and claim", async () => {
    const env = await moderatedEnv({ limits });
    const alice = await makeClient(env, "alice");
    const bob = await makeClient(env, "bob");
    const r1 = await roomWith([], { env, members: [alice, bob], roomId: 1n });
    const carol = await makeClient(env, "carol");
    await roomWith([], { env, members: [carol, bob], roomId: 2n });
    await roomWith([], { env, members: [carol], roomId: 3n });

    const r = await env.moderation.ban("bob", "hub", undefined, "fraud", "admin");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.kicked.map((k) => k.roomId).sort()).toEqual([1n, 2n]);
    expect(env.storage.readAudit().filter((a) => a.kind === "kick")).toHaveLength(2);
    expect(env.storage.readAudit()[0]).toMatchObject({
      kind: "ban",
      detail: { user_id: "bob", scope: "hub", reason: "fraud" },
    });

    const kp = bytes({
      version: "mls10",
      wireformat: "mls_key_package",
      keyPackage: bob.device.publicPackage,
    });
    const up = frameOf(bob, Opcode.KP_UPLOAD, 0n, 0n, { key_packages: [kp], last_resort: false });
    expect(errorName(await send(env, bob, up))).toBe("BANNED");
    const claim = frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: "bob" });
    expect(errorName(await send(env, alice, claim))).toBe("BANNED");
    expect(errorName(await send(env, bob, frameOf(bob, Opcode.GROUP_INFO_FETCH, 3n, 0n, {})))).toBe(
      "BANNED",
    );
    // Others' directory use is unaffected.
    const ownKp = bytes({
      version: "mls10",
      wireformat: "mls_key_package",
      keyPackage: carol.device.publicPackage,
    });
    const carolUp = frameOf(carol, Opcode.KP_UPLOAD, 0n, 0n, {
      key_packages: [ownKp],
      last_resort: false,
    });
    expect((await send(env, carol, carolUp)).opcode).toBe(Opcode.ACK);
    void r1;
  });

  it("validates ban arguments and replays ban/unban records", async () => {
    const env = await moderatedEnv();
    expect(await env.moderation.ban("x", "room", undefined, "", "a")).toMatchObject({
      ok: false,
      refusal: { code: "BAD_PAYLOAD" },
    });
    expect(await env.moderation.ban("x", "room", 5n, "", "a")).toMatchObject({
      ok: false,
      refusal: { code: "UNKNOWN_ROOM" },
    });
    const rec = (kind: string, detail: Record<string, unknown>, roomId?: bigint) => ({
      kind,
      at: 0n,
      actor: "a",
      detail,
      ...(roomId === undefined ? {} : { roomId }),
    });
    const list = BanList.fromAudit([
      rec("ban", { user_id: "u", scope: "hub" }),
      rec("ban", { user_id: "v", scope: "room" }, 7n),
      rec("ban", { user_id: "v", scope: "room" }, 8n),
      rec("ban", { user_id: "w", scope: "room" }), // no room: ignored
      rec("ban", { user_id: 3, scope: "hub" }), // malformed: ignored
      rec("kick", { user_id: "z" }),
      rec("unban", { user_id: "v", scope: "room" }, 8n),
    ]);
    expect(list.list()).toEqual([
      { userId: "u", scope: "hub" },
      { userId: "v", scope: "room", roomId: 7n },
    ]);
    expect(list.isBanned("u", 1n)).toBe(true);
    expect(list.isBanned("v", 8n)).toBe(false);
    expect(list.remove({ userId: "v", scope: "room", roomId: 7n })).toBe(true);
    expect(list.remove({ userId: "v", scope: "room", roomId: 7n })).toBe(false);
    expect(() => list.add({ userId: "q", scope: "room" })).toThrow(TypeError);
    expect(banOf(rec("ban", { user_id: "q", scope: "galaxy" }))).toBeUndefined();
  });
});
