/**
 * Every rule of the sequencer (DESIGN §4, issue 3), with each rejection and its code, on a
 * room of real ts-mls clients driven through the hub core.
 */
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  Flag,
  FrameHeader,
  Opcode,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import {
  answerTo,
  type Client,
  deliveredTo,
  errorName,
  frameOf,
  makeClient,
  makeEnv,
  openHub,
  send,
  sendCommit,
} from "../hub/harness.js";
import { commit, externalJoin, hubRemove, process } from "../mls/mlsClients.js";
import { appMessage, proposeCarolsRemoval, ROOM, roomWith } from "./room.js";
import { UnsyncedDisk } from "./unsyncedDisk.js";

describe("room creation", () => {
  it("creates a room at log index 0 and refuses a second creation", async () => {
    const { env, members } = await roomWith(["alice"]);
    const alice = members[0]!;
    const room = env.hub.shards.count === 1 ? ROOM : ROOM;
    expect(env.storage.nextIndex(room)).toBe(1n);
    const again = await send(
      env,
      alice,
      frameOf(alice, Opcode.ROOM_CREATE, room, 0n, { group_info: new Uint8Array([1]) }),
    );
    expect(errorName(again)).toBe("ROOM_EXISTS");
  });

  it("refuses a malformed GroupInfo with INVALID_GROUP_INFO", async () => {
    const { env, members } = await roomWith(["alice"]);
    const a = await send(
      env,
      members[0]!,
      frameOf(members[0]!, Opcode.ROOM_CREATE, 77n, 0n, { group_info: new Uint8Array([1, 2, 3]) }),
    );
    expect(errorName(a)).toBe("INVALID_GROUP_INFO");
  });

  it("answers UNKNOWN_ROOM for a room that does not exist", async () => {
    const { env, members } = await roomWith(["alice"]);
    const a = await send(env, members[0]!, appMessage(members[0]!, 999n, 0n));
    expect(errorName(a)).toBe("UNKNOWN_ROOM");
  });
});

describe("application messages", () => {
  it("sequences at the current epoch, acks with log index and HLC, fans out to the others", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob", "carol"]);
    const [alice, bob, carol] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ];
    const a = await send(env, bob!, appMessage(bob!, roomId, 1n, "hello"));
    expect(a.opcode).toBe(Opcode.ACK);
    expect(a.frame.header.logIndex).toBe(2n);
    expect(a.frame.header.hlcTimestamp).toBeGreaterThan(0n);
    expect(a.frame.header.senderId).toBe(0n);
    expect(a.frame.header.has(Flag.RESPONSE)).toBe(true);
    const toAlice = deliveredTo(env, alice!.senderId, Opcode.APP_MESSAGE);
    expect(toAlice.at(-1)?.header.logIndex).toBe(2n);
    expect(deliveredTo(env, carol!.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    expect(deliveredTo(env, bob!.senderId, Opcode.APP_MESSAGE)).toHaveLength(0);
  });

  it("refuses an old epoch with STALE_EPOCH{expected} and a future one with WRONG_EPOCH", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const stale = await send(env, members[1]!, appMessage(members[1]!, roomId, 0n));
    expect(stale.error).toEqual({ name: "STALE_EPOCH", expected_epoch: 1n });
    const future = await send(env, members[1]!, appMessage(members[1]!, roomId, 5n));
    expect(future.error).toEqual({ name: "WRONG_EPOCH", expected_epoch: 1n });
    expect(env.storage.nextIndex(roomId)).toBe(2n);
  });

  it("refuses non-members with NOT_MEMBER", async () => {
    const { env, roomId } = await roomWith(["alice"]);
    const mallory = await makeClient(env, "mallory");
    const a = await send(env, mallory, appMessage(mallory, roomId, 0n));
    expect(errorName(a)).toBe("NOT_MEMBER");
  });
});

describe("frame checks in the hub core", () => {
  it("answers decode errors and bad signatures with ERROR frames, never throws", async () => {
    const { env, members, roomId } = await roomWith(["alice"]);
    const alice = members[0]!;
    const bytes = appMessage(alice, roomId, 0n, "x", 500);
    const tampered = bytes.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(errorName(await send(env, alice, tampered))).toBe("BAD_SIGNATURE");
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(errorName(await send(env, alice, badMagic))).toBe("BAD_MAGIC");
    await env.hub.handleFrame(alice.sessionId, alice.senderId, new Uint8Array(5));
    expect(env.out.at(-1)?.frame.header.opcode).toBe(Opcode.ERROR);
  });

  it("refuses a frame whose sender_id is not the session's device", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const [alice, bob] = members as [
      NonNullable<(typeof members)[0]>,
      NonNullable<(typeof members)[0]>,
    ];
    const forged = encodeFrame(
      {
        opcode: Opcode.APP_MESSAGE,
        requestId: 9,
        roomId,
        senderId: bob.senderId,
        epoch: 1n,
        payload: encodePayload(Opcode.APP_MESSAGE, {
          generation: 0,
          ciphertext: new Uint8Array(1),
        }),
      },
      alice.signer,
    );
    await env.hub.handleFrame(alice.sessionId, alice.senderId, forged);
    expect(answerTo(env, alice, 9)?.error?.name).toBe("SENDER_MISMATCH");
  });

  it("refuses frames from sessions the transport did not attach", async () => {
    const { env, roomId } = await roomWith(["alice"]);
    const ghost = await makeClient(env, "ghost", false);
    await env.hub.handleFrame(ghost.sessionId, ghost.senderId, appMessage(ghost, roomId, 0n));
    const last = env.out.at(-1)!;
    expect(decodePayload(Opcode.ERROR, last.frame.payload).name).toBe("UNAUTHENTICATED");
  });
});

describe("commits", () => {
  it("first valid commit at epoch E wins; the later one gets STALE_EPOCH{expected}", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob", "carol"]);
    const [, bob, carol] = members;
    const cb = await commit(env.cs, bob!.state!);
    const cc = await commit(env.cs, carol!.state!);
    const first = await sendCommit(env, bob!, roomId, 1n, cb);
    expect(first.opcode).toBe(Opcode.ACK);
    const second = await sendCommit(env, carol!, roomId, 1n, cc);
    expect(second.error).toEqual({ name: "STALE_EPOCH", expected_epoch: 2n });
    // GROUP_INFO_FETCH serves the winner's GroupInfo for the new epoch.
    const gi = await send(env, carol!, frameOf(carol!, Opcode.GROUP_INFO_FETCH, roomId, 1n, {}));
    const p = decodePayload(Opcode.GROUP_INFO, gi.frame.payload);
    expect(p.epoch).toBe(2n);
    expect(Buffer.from(p.group_info).equals(Buffer.from(cb.groupInfo))).toBe(true);
  });

  it("refuses a commit that does not cover the pending proposals with MISSING_PROPOSALS", async () => {
    const three = await roomWith(["alice", "bob", "carol"]);
    const { env, members, roomId } = three;
    const [alice] = members;
    const { proposal: prop, answer: pa } = await proposeCarolsRemoval(three);
    expect(pa.opcode).toBe(Opcode.ACK);
    const c = await commit(env.cs, alice!.state!); // made without processing the proposal
    const a = await sendCommit(env, alice!, roomId, 1n, c);
    expect(errorName(a)).toBe("MISSING_PROPOSALS");
    // After processing it, the commit covers it by reference and is accepted.
    const st = await process(env.cs, alice!.state!, prop.message);
    const c2 = await commit(env.cs, st);
    const ok = await sendCommit(env, alice!, roomId, 1n, c2);
    expect(ok.opcode).toBe(Opcode.ACK);
    const room = env.hub.shards as unknown as {
      shards: { room(id: bigint): { pending: unknown[]; epoch: bigint } }[];
    };
    expect(room.shards[0]!.room(roomId).pending).toHaveLength(0);
    expect(room.shards[0]!.room(roomId).epoch).toBe(2n);
  });

  it("refuses an invalid commit with INVALID_COMMIT", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const a = await send(
      env,
      members[0]!,
      frameOf(members[0]!, Opcode.COMMIT, roomId, 1n, {
        commit: new Uint8Array([0, 1, 2]),
        group_info: new Uint8Array([3]),
      }),
    );
    expect(errorName(a)).toBe("INVALID_COMMIT");
  });

  it("delivers WELCOME to the added devices only", async () => {
    const { env, members } = await roomWith(["alice", "bob"]);
    const welcomes = deliveredTo(env, members[1]!.senderId, Opcode.WELCOME);
    expect(welcomes).toHaveLength(1);
    expect(decodePayload(Opcode.WELCOME, welcomes[0]!.payload).epoch).toBe(1n);
    expect(deliveredTo(env, members[0]!.senderId, Opcode.WELCOME)).toHaveLength(0);
  });
});

describe("external commits and hub removals", () => {
  it("accepts an external join at the current epoch; refuses one at an old epoch", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const dave = await makeClient(env, "dave");
    const j = await externalJoin(env.cs, dave.device, members[0]!.state!);
    const old = await send(
      env,
      dave,
      frameOf(dave, Opcode.EXTERNAL_COMMIT, roomId, 0n, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(old.error).toEqual({ name: "STALE_EPOCH", expected_epoch: 1n });
    const ok = await send(
      env,
      dave,
      frameOf(dave, Opcode.EXTERNAL_COMMIT, roomId, 1n, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(ok.opcode).toBe(Opcode.ACK);
    const msg = await send(env, dave, appMessage(dave, roomId, 2n));
    expect(msg.opcode).toBe(Opcode.ACK);
  });

  it("while a hub removal is pending: no app message, no external commit, no commit without it", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob", "carol"], {
      limits: { commitDelayMs: 100, commitDeadlineMs: 1000 },
    });
    const [alice, bob, carol] = members;
    const removal = await hubRemove(env.cs, env.hubMls, alice!.state!, 2);
    const r = await env.hub.proposeRemoval(roomId, 2, removal.bytes);
    expect(r.ok).toBe(true);
    expect(errorName(await send(env, bob!, appMessage(bob!, roomId, 1n)))).toBe(
      "MUST_INCLUDE_PENDING_REMOVALS",
    );
    const dave = await makeClient(env, "dave");
    const j = await externalJoin(env.cs, dave.device, alice!.state!);
    const ext = await send(
      env,
      dave,
      frameOf(dave, Opcode.EXTERNAL_COMMIT, roomId, 1n, {
        commit: j.commit,
        group_info: j.groupInfo,
      }),
    );
    expect(errorName(ext)).toBe("MUST_INCLUDE_PENDING_REMOVALS");
    const without = await commit(env.cs, bob!.state!);
    const refused = await sendCommit(env, bob!, roomId, 1n, without);
    expect(errorName(refused)).toBe("MISSING_PROPOSALS");
    // The hub asks a live member that is not being removed to commit.
    env.time.advance(100);
    const asked = [alice!, bob!].filter(
      (m) => deliveredTo(env, m.senderId, Opcode.COMMIT_REQUEST).length > 0,
    );
    expect(asked).toHaveLength(1);
    expect(deliveredTo(env, carol!.senderId, Opcode.COMMIT_REQUEST)).toHaveLength(0);
    const st = await process(env.cs, bob!.state!, removal.message);
    const c = await commit(env.cs, st);
    const ok = await sendCommit(env, bob!, roomId, 1n, c);
    expect(ok.opcode).toBe(Opcode.ACK);
    // The removed member got the commit that removed it; messages flow again.
    expect(deliveredTo(env, carol!.senderId, Opcode.COMMIT).length).toBeGreaterThan(0);
    bob!.state = c.state;
    expect((await send(env, bob!, appMessage(bob!, roomId, 2n))).opcode).toBe(Opcode.ACK);
    expect(errorName(await send(env, carol!, appMessage(carol!, roomId, 2n)))).toBe("NOT_MEMBER");
  });

  it("refuses an invalid proposal with INVALID_PROPOSAL", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const a = await send(
      env,
      members[1]!,
      frameOf(members[1]!, Opcode.PROPOSAL, roomId, 1n, { message: new Uint8Array([9, 9]) }),
    );
    expect(errorName(a)).toBe("INVALID_PROPOSAL");
  });
});

describe("commit requests (proposal batching)", () => {
  it("asks one live member after commit_delay_ms and another one after the deadline", async () => {
    const room = await roomWith(["alice", "bob", "carol"], {
      limits: { commitDelayMs: 100, commitDeadlineMs: 500 },
    });
    const { env } = room;
    await proposeCarolsRemoval(room);
    const requests = () =>
      env.out.filter((s) => s.frame.header.opcode === Opcode.COMMIT_REQUEST).map((s) => s.target);
    env.time.advance(99);
    expect(requests()).toHaveLength(0);
    env.time.advance(1);
    expect(requests()).toHaveLength(1);
    const p = decodePayload(Opcode.COMMIT_REQUEST, env.out.at(-1)!.frame.payload);
    expect(p).toEqual({ epoch: 1n, pending: 1, deadline_ms: 500 });
    env.time.advance(500);
    const all = requests();
    expect(all).toHaveLength(2);
    expect(all[0]).not.toEqual(all[1]);
  });

  it("asks at once when max_proposals_per_epoch are pending", async () => {
    const room = await roomWith(["alice", "bob", "carol"], {
      limits: { commitDelayMs: 10_000, maxProposalsPerEpoch: 1 },
    });
    const { env } = room;
    await proposeCarolsRemoval(room);
    expect(env.out.filter((s) => s.frame.header.opcode === Opcode.COMMIT_REQUEST)).toHaveLength(1);
  });
});

describe("idempotency and sync", () => {
  it("a repeated (sender_id, request_id) gets the first answer and is sequenced once, across restarts", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const bob = members[1]!;
    const bytes = appMessage(bob, roomId, 1n, "once", 4242);
    const first = await send(env, bob, bytes);
    const second = await send(env, bob, bytes);
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(env.storage.nextIndex(roomId)).toBe(3n);
    // Concurrent duplicates while the first is in flight.
    const dup = appMessage(bob, roomId, 1n, "twice", 4243);
    await Promise.all([
      env.hub.handleFrame(bob.sessionId, bob.senderId, dup),
      env.hub.handleFrame(bob.sessionId, bob.senderId, dup),
    ]);
    expect(env.storage.nextIndex(roomId)).toBe(4n);
    await openHub(env);
    env.hub.attachSession(bob.sessionId, bob.signer.publicKey, "bob");
    const third = await send(env, bob, bytes);
    expect(Buffer.from(third.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(env.storage.nextIndex(roomId)).toBe(4n);
  });

  it("serves the log in pages with tombstones for erased payloads", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"], {
      limits: { syncPageLimit: 3 },
    });
    const bob = members[1]!;
    for (let i = 0; i < 4; i++) await send(env, bob, appMessage(bob, roomId, 1n, `m${i}`));
    expect(await env.storage.secureDelete(roomId, 3n)).toBe(true);
    const page = await send(
      env,
      bob,
      frameOf(bob, Opcode.SYNC_REQUEST, roomId, 1n, { from: 1n, limit: 100 }),
    );
    const p = decodePayload(Opcode.SYNC_PAGE, page.frame.payload);
    expect(p.entries).toHaveLength(3);
    expect(p.next).toBe(4n);
    expect(p.head).toBe(6n);
    expect(p.entries[2]!.payload).toBeNull();
    expect(p.entries[2]!.header).toHaveLength(128);
    const rest = await send(
      env,
      bob,
      frameOf(bob, Opcode.SYNC_REQUEST, roomId, 1n, { from: p.next, limit: 100 }),
    );
    const q = decodePayload(Opcode.SYNC_PAGE, rest.frame.payload);
    expect(q.entries.map((e) => e.payload === null)).toEqual([false, false]);
    expect(q.next).toBe(6n);
  });
});

describe("sync reads durable frames only", () => {
  it("a SYNC_PAGE stops at the durable head while a later frame waits for its fsync", async () => {
    // LMDB readers see a committed transaction before its fsync completes (lmdbStorage.ts):
    // a page must not carry such a frame, a power loss could still take it away (issue 11).
    const disk = new UnsyncedDisk();
    const env = await makeEnv({ storage: disk });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const [alice, bob] = members as [Client, Client];
    disk.hold = true;
    const pending = env.hub.handleFrame(bob.sessionId, bob.senderId, appMessage(bob, roomId, 1n));
    await new Promise((r) => setTimeout(r, 0));
    expect(disk.readRange(roomId, 2n, 10)).toHaveLength(1); // committed, not yet durable
    const sync = frameOf(alice, Opcode.SYNC_REQUEST, roomId, 1n, { from: 0n, limit: 100 });
    await env.hub.handleFrame(alice.sessionId, alice.senderId, sync);
    const page = answerTo(env, alice, FrameHeader.view(sync).requestId)!;
    const p = decodePayload(Opcode.SYNC_PAGE, page.frame.payload);
    expect(p.head).toBe(2n);
    expect(p.entries.map((e) => FrameHeader.view(e.header).logIndex)).toEqual([0n, 1n]);
    expect(p.next).toBe(2n);
    const past = frameOf(alice, Opcode.SYNC_REQUEST, roomId, 1n, { from: 2n, limit: 100 });
    await env.hub.handleFrame(alice.sessionId, alice.senderId, past);
    const q = decodePayload(
      Opcode.SYNC_PAGE,
      answerTo(env, alice, FrameHeader.view(past).requestId)!.frame.payload,
    );
    expect(q.entries).toEqual([]);
    expect(q.next).toBe(2n);
    await disk.release();
    await pending;
    expect(env.storage.nextIndex(roomId)).toBe(3n);
  });
});

describe("restart", () => {
  it("reopening storage restores next index, epoch, pending proposals and idempotent answers", async () => {
    const room = await roomWith(["alice", "bob", "carol"]);
    const { env, members, roomId } = room;
    const [alice, bob] = members;
    const { proposal: prop, answer: pa } = await proposeCarolsRemoval(room, 77);
    const before = env.hub.shards as unknown as {
      shards: { room(id: bigint): { nextIndex: bigint; epoch: bigint; pending: unknown[] } }[];
    };
    const r0 = before.shards[0]!.room(roomId);
    const snapshot = { next: r0.nextIndex, epoch: r0.epoch, pending: r0.pending.length };
    await env.hub.close();
    await openHub(env);
    for (const m of members) env.hub.attachSession(m.sessionId, m.signer.publicKey, m.name);
    const after = env.hub.shards as unknown as typeof before;
    const r1 = after.shards[0]!.room(roomId);
    expect({ next: r1.nextIndex, epoch: r1.epoch, pending: r1.pending.length }).toEqual(snapshot);
    const again = await send(
      env,
      bob!,
      frameOf(bob!, Opcode.PROPOSAL, roomId, 1n, { message: prop.bytes }, 77),
    );
    expect(Buffer.from(again.bytes).equals(Buffer.from(pa.bytes))).toBe(true);
    // The restored pending proposal still has to be covered.
    const c = await commit(env.cs, alice!.state!);
    const refused = await sendCommit(env, alice!, roomId, 1n, c);
    expect(errorName(refused)).toBe("MISSING_PROPOSALS");
    const st = await process(env.cs, alice!.state!, prop.message);
    const c2 = await commit(env.cs, st);
    const ok = await sendCommit(env, alice!, roomId, 1n, c2);
    expect(ok.opcode).toBe(Opcode.ACK);
    expect(ok.frame.header.logIndex).toBe(snapshot.next);
    expect(ok.frame.header.hlcTimestamp).toBeGreaterThan(pa.frame.header.hlcTimestamp);
  });
});
