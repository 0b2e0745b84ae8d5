/**
 * Retention sweeps against a model (issue 8): whatever the mix of frames, the times they
 * were sequenced at, the policy, the sweep budget and when sweeps run while the room
 * grows, once a last sweep has run to completion exactly the application messages the
 * policy condemns at that time are erased — the ones older than max_age and those beyond
 * the newest max_count — and nothing else (no handshake frame, no message that stays).
 */
import { encodeFrame, HEADER_SIZE, Opcode } from "@kalandra/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hlcStamp } from "../../src/hlc.js";
import { FRESH_CURSOR, planSweep, type RoomCursor } from "../../src/moderation/retention.js";
import { stampFrame } from "../../src/sequencer/wire.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";

const ROOM = 5n;

function frame(opcode: number, logIndex: bigint, ms: bigint): Uint8Array {
  const f = encodeFrame({
    opcode,
    requestId: Number(logIndex) + 1,
    roomId: ROOM,
    senderId: 9n,
    epoch: 1n,
    payload: new Uint8Array([0xa0]),
  });
  return stampFrame(f, logIndex, hlcStamp(ms, 0));
}

const step = fc.record({
  app: fc.boolean(),
  gapMs: fc.integer({ min: 0, max: 50 }),
  sweepAfter: fc.boolean(),
});

describe("retention sweep model", () => {
  it("erases exactly the condemned application messages", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        async (steps, maxAgeMs, maxCount, budget) => {
          const storage = new MemoryStorage();
          const policy = { maxAgeMs, maxCount };
          let cursor: RoomCursor = FRESH_CURSOR;
          let now = 1_000_000n;
          const times: bigint[] = [];
          const sweep = async () => {
            // Bounded: each round erases at least one message or ends the loop.
            for (let round = 0; round < 200; round++) {
              const plan = planSweep(storage, ROOM, policy, now, cursor, budget);
              for (const i of plan.erase) await storage.secureDelete(ROOM, i);
              cursor = plan.next;
              if (plan.erase.length === 0) return;
            }
            throw new Error("sweep did not settle");
          };
          for (const [i, s] of steps.entries()) {
            now += BigInt(s.gapMs);
            const idx = BigInt(i);
            const bytes = frame(s.app ? Opcode.APP_MESSAGE : Opcode.COMMIT, idx, now);
            await storage.append([
              {
                roomId: ROOM,
                logIndex: idx,
                header: bytes.subarray(0, HEADER_SIZE),
                payload: bytes.subarray(HEADER_SIZE),
                senderId: 9n,
                requestId: i + 1,
                response: new Uint8Array(1),
              },
            ]);
            times.push(now);
            if (s.sweepAfter) await sweep();
          }
          now += 25n;
          await sweep();

          const apps = steps.flatMap((s, i) => (s.app ? [i] : []));
          const newest = new Set(maxCount > 0 ? apps.slice(-maxCount) : apps);
          const frames = storage.readRange(ROOM, 0n, steps.length);
          for (const [i, s] of steps.entries()) {
            const old = maxAgeMs > 0 && (times[i] as bigint) < now - BigInt(maxAgeMs);
            const condemned = s.app && (old || !newest.has(i));
            expect(frames[i]?.payload === null, `entry ${i}`).toBe(condemned);
          }
        },
      ),
      { numRuns: 150, seed: 0x6b616c },
    );
  });
});
