/**
 * Model test: random sequences of appends, erasures, audit records and restarts applied to
 * the LMDB storage and to the in-memory storage (the model) must read back the same, and
 * the LMDB vault must never hand one slot to two live frames.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { openMemoryStorage } from "../../src/storage/memoryStorage.js";
import { entry, seededRng, tempDir } from "./helpers.js";

type Op =
  | { kind: "append"; room: bigint; n: number }
  | { kind: "erase"; room: bigint; pick: number }
  | { kind: "reopen" };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      room: fc.bigInt(1n, 3n),
      n: fc.integer({ min: 1, max: 6 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("erase" as const),
      room: fc.bigInt(1n, 3n),
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

describe("LMDB storage against the in-memory model", () => {
  it("agrees on every room after any sequence of operations", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const d = tempDir(`model-${run++}`);
        let opens = 0;
        // A fresh seed per open: the same seed after a restart would repeat the keys.
        const open = () =>
          openLmdbStorage({ path: d.path, noSync: true, rng: seededRng(`${d.path}/${opens++}`) });
        let lmdb = await open();
        const model = openMemoryStorage();
        try {
          for (const o of ops) {
            if (o.kind === "append") {
              const from = model.nextIndex(o.room);
              const batch = Array.from({ length: o.n }, (_, i) =>
                entry(o.room, from + BigInt(i), `m-${o.room}-${from + BigInt(i)}`, {
                  userId: `u${i % 2}`,
                }),
              );
              await model.append(batch);
              await lmdb.append(batch);
            } else if (o.kind === "erase") {
              const next = model.nextIndex(o.room);
              const index = next === 0n ? 0n : BigInt(o.pick) % next;
              const want = await model.secureDelete(o.room, index);
              expect(await lmdb.secureDelete(o.room, index)).toBe(want);
            } else {
              await lmdb.close();
              lmdb = await open();
            }
          }
          const keys = new Set<string>();
          for (const room of [1n, 2n, 3n]) {
            expect(lmdb.nextIndex(room)).toBe(model.nextIndex(room));
            expect(lmdb.readRange(room, 0n, 1000)).toEqual(model.readRange(room, 0n, 1000));
            for (const f of lmdb.readRange(room, 0n, 1000)) {
              if (f.payload === null) continue;
              const k = Buffer.from(lmdb.inspectPayloadKey(room, f.logIndex) ?? []).toString("hex");
              expect(keys.has(k)).toBe(false);
              keys.add(k);
            }
          }
          // The interface fixes no order; LMDB answers in (room, index) order.
          const sorted = (xs: { roomId: bigint; logIndex: bigint }[]) =>
            [...xs].sort((a, b) =>
              a.roomId !== b.roomId
                ? a.roomId < b.roomId
                  ? -1
                  : 1
                : a.logIndex < b.logIndex
                  ? -1
                  : 1,
            );
          expect(lmdb.userIndex("u0")).toEqual(sorted(model.userIndex("u0")));
          expect(lmdb.verifyAudit().ok).toBe(true);
        } finally {
          await lmdb.close();
          d.cleanup();
        }
      }),
      { numRuns: 50 },
    );
  });
});
