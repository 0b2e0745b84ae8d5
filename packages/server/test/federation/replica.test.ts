import {
  ackFrame,
  encodeFrame,
  encodePayload,
  Frame,
  FrameHeader,
  generateDeviceKey,
  hubFrame,
  Opcode,
  signFrame,
  stampSequence,
  verifyFrame,
} from "@kalandra/proto";
import { seededRng } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_BUFFERED, ReplicaLog } from "../../src/federation/replica.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

const ROOM = 0xfeedn;
const alice = generateDeviceKey(seededRng("replica/alice"));
const hub = generateDeviceKey(seededRng("replica/hub"));

/** The authority's frame at `logIndex`: an APP_MESSAGE stamped with its position. */
function frameAt(logIndex: bigint, text = logIndex): Uint8Array {
  const f = encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId: Number(logIndex) + 1,
      roomId: ROOM,
      senderId: alice.senderId,
      epoch: 1n,
      payload: encodePayload(Opcode.APP_MESSAGE, {
        generation: 0,
        ciphertext: new TextEncoder().encode(String(text)),
      }),
    },
    alice.signer,
  );
  stampSequence(f, logIndex, 1000n + logIndex);
  return f;
}

function indexes(storage: MemoryStorage): bigint[] {
  return storage.readRange(ROOM, 0n, 10_000).map((f) => f.logIndex);
}

describe("ReplicaLog: the position check of a participating hub (DESIGN §11)", () => {
  it("appends the next log_index and fans out to the given devices", async () => {
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    const v = await r.accept(ROOM, frameAt(0n), [5n]);
    expect(v).toMatchObject({ kind: "appended", applied: [{ to: [5n] }] });
    expect(r.head(ROOM)).toBe(1n);
    expect(storage.readRange(ROOM, 0n, 1)[0]!.header).toEqual(frameAt(0n).subarray(0, 128));
  });

  it("ignores an identical duplicate, refuses a different frame at a stored index (a fork)", async () => {
    const r = new ReplicaLog(new MemoryStorage());
    await r.accept(ROOM, frameAt(0n), []);
    expect(await r.accept(ROOM, frameAt(0n), [])).toEqual({ kind: "duplicate" });
    const fork = await r.accept(ROOM, frameAt(0n, 99n), []);
    expect(fork).toMatchObject({ kind: "refused", refusal: { code: "OUT_OF_POSITION" } });
    expect(r.head(ROOM)).toBe(1n);
  });

  it("holds a frame past a gap, then applies it in order after the missing page", async () => {
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    expect(await r.accept(ROOM, frameAt(2n), [7n])).toEqual({ kind: "gap", from: 0n });
    expect(r.head(ROOM)).toBe(0n);
    const page = [frameAt(0n), frameAt(1n)].map((f) => ({
      header: f.subarray(0, 128),
      payload: f.subarray(128),
    }));
    const applied = await r.applyPage(ROOM, page);
    expect(applied.map((a) => a.to)).toEqual([[7n]]);
    expect(indexes(storage)).toEqual([0n, 1n, 2n]);
  });

  it("drops a frame held from a deposed term once the next term's frames close the gap (fed_hubs_failover seed 5)", async () => {
    // A replica behind (head 1) holds the term-1 authority's frame at 2; that authority is
    // deposed and term 3 starts at 1: term 3's own frames at 1 and 2 must make the log.
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    await r.accept(ROOM, frameAt(0n), [], undefined, 1n);
    expect(await r.accept(ROOM, frameAt(2n, 902n), [7n], undefined, 1n)).toEqual({
      kind: "gap",
      from: 1n,
    });
    const v = await r.accept(ROOM, frameAt(1n, 301n), [8n], undefined, 3n);
    expect(v).toMatchObject({ kind: "appended", applied: [{ to: [8n] }] });
    expect(r.head(ROOM)).toBe(2n);
    expect(await r.accept(ROOM, frameAt(2n, 302n), [], undefined, 3n)).toMatchObject({
      kind: "appended",
    });
    expect(storage.readRange(ROOM, 2n, 1)[0]!.header).toEqual(frameAt(2n, 302n).subarray(0, 128));
    // So does a catch-up page of a later term.
    await r.accept(ROOM, frameAt(4n, 904n), [7n], undefined, 3n);
    const page = [{ header: frameAt(3n).subarray(0, 128), payload: frameAt(3n).subarray(128) }];
    expect(await r.applyPage(ROOM, page, 4n)).toEqual([]);
    expect(r.head(ROOM)).toBe(4n);
  });

  it("keeps the room state a held live frame carried when a catch-up page brings that entry", async () => {
    // A hub that joins a room gets its first live frame (the commit that added its user, with
    // the room's state after it) before it has the log: it is held while the page from 0 is
    // fetched, and that page may end with the same commit. The state must not be lost with
    // the held copy, or this replica could never take the room over (failover.ts
    // stateIsCurrent) and a failover of the room would never start.
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    const state = new Uint8Array([1, 2, 3]);
    expect(await r.accept(ROOM, frameAt(1n), [7n], state)).toEqual({ kind: "gap", from: 0n });
    const page = [frameAt(0n), frameAt(1n)].map((f) => ({
      header: f.subarray(0, 128),
      payload: f.subarray(128),
    }));
    const applied = await r.applyPage(ROOM, page);
    expect(indexes(storage)).toEqual([0n, 1n]);
    expect(storage.getRoomState(ROOM)).toEqual(state);
    // The held live frame is still delivered to the devices it was for.
    expect(applied.map((a) => a.to)).toEqual([[7n]]);
  });

  it("does not take a held frame's state for a different entry at its index", async () => {
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    await r.accept(ROOM, frameAt(1n, 99n), [7n], new Uint8Array([9]));
    const page = [frameAt(0n), frameAt(1n)].map((f) => ({
      header: f.subarray(0, 128),
      payload: f.subarray(128),
    }));
    expect(await r.applyPage(ROOM, page)).toEqual([]);
    expect(storage.getRoomState(ROOM)).toBeUndefined();
  });

  it("records each device request's ACK (its position, signed by this hub) as its idempotency answer", async () => {
    // After a failover this hub's sequencer answers a retried request from these records: an
    // empty one was sent as an empty frame the requester never got (a send stuck forever).
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage, (header) => {
      const h = FrameHeader.view(header);
      const ack = ackFrame(h, h.logIndex, h.hlcTimestamp);
      signFrame(ack, hub.signer);
      return ack;
    });
    await r.accept(ROOM, frameAt(1n), []);
    const page = [frameAt(0n)].map((f) => ({
      header: f.subarray(0, 128),
      payload: f.subarray(128),
    }));
    await r.applyPage(ROOM, page);
    for (const i of [0n, 1n]) {
      const bytes = storage.getResponse(alice.senderId, Number(i) + 1);
      expect(bytes, `response of entry ${i}`).toBeDefined();
      const ack = Frame.fromWire(bytes as Uint8Array);
      expect(ack.header.opcode).toBe(Opcode.ACK);
      expect(ack.header.logIndex).toBe(i);
      expect(ack.header.hlcTimestamp).toBe(1000n + i);
      expect(verifyFrame(ack, hub.signer.publicKey)).toBe(true);
    }
  });

  it("stores an entry erased at the authority as erased here", async () => {
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    const f = frameAt(0n);
    await r.applyPage(ROOM, [{ header: f.subarray(0, 128), payload: null }]);
    expect(storage.readRange(ROOM, 0n, 1)[0]!.payload).toBeNull();
  });

  it("erases the hub's other copy of an entry too: erased at the authority, or redacted by its notice", async () => {
    const storage = new MemoryStorage();
    const copy: bigint[] = [];
    const r = new ReplicaLog(storage, undefined, async (roomId, i) => {
      expect(roomId).toBe(ROOM);
      copy.push(i);
    });
    const f = frameAt(0n);
    await r.applyPage(ROOM, [{ header: f.subarray(0, 128), payload: null }]);
    await r.accept(ROOM, frameAt(1n), []);
    await r.accept(ROOM, frameAt(2n), []);
    expect(copy).toEqual([0n]);
    const notice = hubFrame(hub.signer, Opcode.REDACTION, ROOM, 0n, { log_index: 1n });
    stampSequence(notice, 3n, 1003n);
    await r.accept(ROOM, notice, []);
    expect(storage.readRange(ROOM, 1n, 1)[0]!.payload).toBeNull();
    expect(copy).toEqual([0n, 1n]);
    // A notice naming what is no application message here erases nothing, in no copy.
    const bad = hubFrame(hub.signer, Opcode.REDACTION, ROOM, 0n, { log_index: 3n });
    stampSequence(bad, 4n, 1004n);
    await r.accept(ROOM, bad, []);
    expect(copy).toEqual([0n, 1n]);
  });

  it("ignores page entries of another room or out of sequence", async () => {
    const storage = new MemoryStorage();
    const r = new ReplicaLog(storage);
    const far = frameAt(3n);
    await r.applyPage(ROOM, [{ header: far.subarray(0, 128), payload: far.subarray(128) }]);
    expect(r.head(ROOM)).toBe(0n);
    const other = frameAt(0n);
    expect(await r.accept(ROOM + 1n, other, [])).toMatchObject({ kind: "refused" });
  });

  it(`buffers at most ${MAX_BUFFERED} frames per room`, async () => {
    const r = new ReplicaLog(new MemoryStorage());
    for (let i = 1; i <= MAX_BUFFERED + 5; i++) await r.accept(ROOM, frameAt(BigInt(i)), []);
    const applied = await r.applyPage(ROOM, [
      { header: frameAt(0n).subarray(0, 128), payload: frameAt(0n).subarray(128) },
    ]);
    expect(applied).toHaveLength(MAX_BUFFERED);
    expect(r.head(ROOM)).toBe(BigInt(MAX_BUFFERED + 1));
  });

  it("property: any arrival order, with duplicates, ends as the authority's log, each frame fanned out once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 24 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray([...Array(n).keys(), ...Array(n).keys()], {
              minLength: 2 * n,
              maxLength: 2 * n,
            }),
          ),
        ),
        async ([n, order]) => {
          const storage = new MemoryStorage();
          const r = new ReplicaLog(storage);
          const fanned: bigint[] = [];
          // Frames arrive concurrently, as link messages do.
          const verdicts = await Promise.all(
            order.map((i) => r.accept(ROOM, frameAt(BigInt(i)), [BigInt(i)])),
          );
          for (const v of verdicts) {
            if (v.kind === "appended") for (const a of v.applied) fanned.push(...a.to);
            expect(v.kind).not.toBe("refused");
          }
          // Whatever is still held waits for a page from the authority's head.
          const page = Array.from({ length: n }, (_, i) => frameAt(BigInt(i))).map((f) => ({
            header: f.subarray(0, 128),
            payload: f.subarray(128),
          }));
          for (const a of await r.applyPage(ROOM, page)) fanned.push(...a.to);
          expect(indexes(storage)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i)));
          for (const f of storage.readRange(ROOM, 0n, n)) {
            expect(f.header).toEqual(frameAt(f.logIndex).subarray(0, 128));
          }
          expect(new Set(fanned).size).toBe(fanned.length);
        },
      ),
      { numRuns: 60 },
    );
  });
});
