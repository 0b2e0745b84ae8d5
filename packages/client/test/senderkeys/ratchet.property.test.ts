import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EpochSenderKeys } from "../../src/senderkeys/index.js";
import { errorCode, fcSeed, members } from "./helpers.js";

const seed = fcSeed("ratchet.property");

describe("sender-key ratchet properties", () => {
  it("round trips under arbitrary reordering inside the window", () => {
    const window = 16;
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 40 })
          .chain((n) =>
            fc.tuple(
              fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: n, maxLength: n }),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            ),
          ),
        ([plaintexts, order]) => {
          const [a, b] = members(2, { window: { maxSkip: window } }) as [
            EpochSenderKeys,
            EpochSenderKeys,
          ];
          const sealed = plaintexts.map((p) => a.seal(p));
          // Reference model of the window: next expected generation + held skipped keys.
          let next = 0;
          const held: number[] = [];
          const opened: number[] = [];
          for (const i of order) {
            const m = sealed[i];
            if (m === undefined) throw new Error("index");
            let expected: string;
            if (i < next) {
              const at = held.indexOf(i);
              expected = at >= 0 ? "OK" : "REPLAY";
              if (at >= 0) held.splice(at, 1);
            } else if (i - next > window) {
              expected = "TOO_FAR_AHEAD";
            } else {
              expected = "OK";
              for (let g = next; g < i; g++) held.push(g);
              next = i + 1;
              while (held.length > window) held.shift();
            }
            let got: Uint8Array | undefined;
            expect(errorCode(() => (got = b.open(0, m.generation, m.ciphertext)))).toBe(expected);
            if (expected === "OK") {
              expect(got).toEqual(plaintexts[i]);
              opened.push(i);
            }
          }
          // every message that opened once is a replay the second time
          for (const i of opened) {
            const m = sealed[i] as { generation: number; ciphertext: Uint8Array };
            expect(errorCode(() => b.open(0, m.generation, m.ciphertext))).toBe("REPLAY");
          }
        },
      ),
      { seed, numRuns: 150 },
    );
  });

  it("opens every message exactly once when delivered in any order within the window", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...Array(30).keys()], { minLength: 30, maxLength: 30 }),
        (order) => {
          const [a, b] = members(2, { window: { maxSkip: 30 } }) as [
            EpochSenderKeys,
            EpochSenderKeys,
          ];
          const sealed = order.map((i) => a.seal(new Uint8Array([i])));
          for (const i of order) {
            const m = sealed[i];
            if (m === undefined) throw new Error("index");
            expect(b.open(0, m.generation, m.ciphertext)).toEqual(
              new Uint8Array([order[i] as number]),
            );
            expect(errorCode(() => b.open(0, m.generation, m.ciphertext))).toBe("REPLAY");
          }
        },
      ),
      { seed, numRuns: 100 },
    );
  });

  it("rejects every single-byte corruption of a ciphertext and every truncation", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 48 }),
        fc.integer({ min: 1, max: 255 }),
        (pt, delta) => {
          const [a, b] = members(2) as [EpochSenderKeys, EpochSenderKeys];
          const m = a.seal(pt);
          for (let i = 0; i < m.ciphertext.length; i++) {
            const bad = m.ciphertext.slice();
            bad[i] = ((bad[i] as number) ^ delta) & 0xff;
            expect(errorCode(() => b.open(0, m.generation, bad))).toBe("DECRYPT_FAILED");
          }
          for (let n = 0; n < m.ciphertext.length; n++) {
            expect(errorCode(() => b.open(0, m.generation, m.ciphertext.subarray(0, n)))).toBe(
              "DECRYPT_FAILED",
            );
          }
          // the genuine message still opens: failed attempts consumed nothing
          expect(b.open(0, m.generation, m.ciphertext)).toEqual(pt);
        },
      ),
      { seed, numRuns: 60 },
    );
  });

  it("rejects generations beyond the window and zeroes every spent key", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 50 }), (win, extra) => {
        const [a, b] = members(2, { window: { maxSkip: win } }) as [
          EpochSenderKeys,
          EpochSenderKeys,
        ];
        const sealed = Array.from({ length: win + extra + 1 }, () => a.seal(new Uint8Array([1])));
        const far = sealed[win + extra] as { generation: number; ciphertext: Uint8Array };
        expect(errorCode(() => b.open(0, far.generation, far.ciphertext))).toBe("TOO_FAR_AHEAD");
        const near = sealed[win] as typeof far;
        const chain = b.secretsForTest().chains.get(0);
        const ck = chain?.secretsForTest().chainKey as Uint8Array;
        expect(errorCode(() => b.open(0, near.generation, near.ciphertext))).toBe("OK");
        expect(ck.every((x) => x === 0)).toBe(true);
        const held = [...(chain?.secretsForTest().skipped.values() ?? [])];
        expect(held.length).toBe(win);
        for (let g = 0; g < win; g++) {
          const m = sealed[g] as typeof far;
          b.open(0, m.generation, m.ciphertext);
        }
        for (const k of held) expect(k.every((x) => x === 0)).toBe(true);
      }),
      { seed, numRuns: 60 },
    );
  });
});
