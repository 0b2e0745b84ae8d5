/**
 * Idempotency (src/sequencer/idempotency.ts, DESIGN §4): a repeated request gets its first
 * answer, unless that answer's log position no longer holds it — a federated room's log a
 * deposed authority gave up and fetched again (federation/logMatch.ts), where the new
 * authority's frame took the place (fed_hubs_failover seed 35: a hub elected again answered
 * a retried request with its old ACK, a position the room gave to another frame).
 */
import { ackFrame, encodeFrame, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { Idempotency } from "../../src/sequencer/idempotency.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

const ROOM = 0x77n;

/** A sequenced frame of `senderId`'s request `requestId` at `logIndex`, with its ACK. */
function sequenced(logIndex: bigint, senderId: bigint, requestId: number) {
  const header = encodeFrame({
    opcode: Opcode.APP_MESSAGE,
    requestId,
    roomId: ROOM,
    senderId,
    logIndex,
    epoch: 1n,
    payload: new Uint8Array(0),
  }).subarray(0, 128);
  const response = ackFrame({ requestId, roomId: ROOM, epoch: 1n }, logIndex, 1000n + logIndex);
  return {
    roomId: ROOM,
    logIndex,
    header,
    payload: new Uint8Array([1]),
    senderId,
    requestId,
    response,
  };
}

describe("Idempotency", () => {
  it("answers a repeated request with its stored ACK while the log holds it there", async () => {
    const storage = new MemoryStorage();
    await storage.append([sequenced(0n, 5n, 1)]);
    const earlier = new Idempotency(storage).earlier(5n, 1);
    expect(earlier).toEqual(sequenced(0n, 5n, 1).response);
  });

  it("treats the request as new once its position holds another frame, or nothing", async () => {
    const storage = new MemoryStorage();
    await storage.append([sequenced(0n, 5n, 1), sequenced(1n, 5n, 2)]);
    // The log is given up (erased, dropped) and fetched again: another frame at 0.
    for (const i of storage.livePayloads(ROOM, 0n, 10)) await storage.secureDelete(ROOM, i);
    await storage.dropRoomLog(ROOM);
    await storage.append([{ ...sequenced(0n, 6n, 9), response: new Uint8Array(0) }]);
    const idempotency = new Idempotency(storage);
    expect(idempotency.earlier(5n, 1)).toBeUndefined();
    expect(idempotency.earlier(5n, 2)).toBeUndefined();
  });
});
