/**
 * Issue 12: SYNC_PAGE capped entries (256) but not bytes, so a 200-byte request produced a
 * 63 MB answer, and after one 16 MiB APP_MESSAGE even a one-entry page exceeded the frame
 * limit: nobody could sync past it. Now a page stops at `syncPageBytes` (always holding at
 * least one entry) and the sequencer refuses payloads a one-entry page could not carry.
 */
import { decodePayload, encodePayload, maxSequencedPayload, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { type Client, type Env, errorName, frameOf, send } from "../hub/harness.js";
import { roomWith } from "./room.js";

const MAX_PAYLOAD = 64 * 1024;
const PAGE_BYTES = 16 * 1024;

/** An APP_MESSAGE whose payload is exactly `size` bytes. */
function appOfSize(c: Client, roomId: bigint, size: number): Uint8Array {
  for (let n = size; n > 0; n--) {
    const p = { generation: 0, ciphertext: new Uint8Array(n).fill(7) };
    if (encodePayload(Opcode.APP_MESSAGE, p).length === size)
      return frameOf(c, Opcode.APP_MESSAGE, roomId, 1n, p);
  }
  throw new Error(`no APP_MESSAGE of ${size} bytes`);
}

async function page(env: Env, c: Client, roomId: bigint, from: bigint, limit = 1000) {
  const a = await send(env, c, frameOf(c, Opcode.SYNC_REQUEST, roomId, 1n, { from, limit }));
  expect(a.opcode).toBe(Opcode.SYNC_PAGE);
  return { bytes: a.frame.payload.length, ...decodePayload(Opcode.SYNC_PAGE, a.frame.payload) };
}

describe("SYNC_PAGE bounded in bytes, sequenced payloads bounded so one entry fits a page", () => {
  it("refuses a payload one byte above maxSequencedPayload, sequences the largest one", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"], {
      limits: { maxPayload: MAX_PAYLOAD, syncPageBytes: PAGE_BYTES },
    });
    const [alice, bob] = members as [Client, Client];
    const largest = maxSequencedPayload(MAX_PAYLOAD);
    const before = env.storage.nextIndex(roomId);
    expect(errorName(await send(env, alice, appOfSize(alice, roomId, largest + 1)))).toBe(
      "PAYLOAD_TOO_LARGE",
    );
    expect(env.storage.nextIndex(roomId)).toBe(before);
    expect((await send(env, alice, appOfSize(alice, roomId, largest))).opcode).toBe(Opcode.ACK);
    for (let i = 0; i < 20; i++) {
      expect((await send(env, alice, appOfSize(alice, roomId, 1000))).opcode).toBe(Opcode.ACK);
    }

    // Every member pages from 0 to the head: each page within the frame limit and (but for
    // a page holding a single entry) within the byte budget; nobody is stuck at the big one.
    for (const c of [alice, bob]) {
      let from = 0n;
      let pages = 0;
      for (;;) {
        const p = await page(env, c, roomId, from);
        expect(p.bytes).toBeLessThanOrEqual(MAX_PAYLOAD);
        if (p.entries.length > 1) expect(p.bytes).toBeLessThanOrEqual(PAGE_BYTES + 256);
        expect(p.entries.length).toBeGreaterThan(0);
        expect(p.next).toBeGreaterThan(from);
        from = p.next;
        pages++;
        if (from === p.head) break;
      }
      expect(from).toBe(env.storage.nextIndex(roomId));
      expect(pages).toBeGreaterThan(2); // 20 KB of small messages cannot fit one 16 KiB page
    }
  });

  it("a 20-byte request for 256 entries gets at most the byte budget back", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"], {
      limits: { maxPayload: MAX_PAYLOAD, syncPageBytes: PAGE_BYTES },
    });
    const alice = members[0]!;
    for (let i = 0; i < 40; i++) {
      expect((await send(env, alice, appOfSize(alice, roomId, 8000))).opcode).toBe(Opcode.ACK);
    }
    const p = await page(env, alice, roomId, 1n, 256); // from the first message on
    // 40 × 8 KB asked for; two 8 KB entries fill the 16 KiB budget.
    expect(p.bytes).toBeLessThanOrEqual(PAGE_BYTES);
    expect(p.entries.length).toBe(2);
    expect(p.next).toBeLessThan(p.head);
  });
});
