/**
 * BytesMap (the hub's key-uniqueness index) behaves like a Map keyed by the bytes' hex, for
 * keys of any length, keys sharing their first four bytes, and keys mutated by nobody.
 */
import { toHex } from "@kalandra/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BytesMap } from "../../src/mls/bytesMap.js";

// Few distinct prefixes, short keys and keys that differ only late, so buckets collide,
// split (past eight keys) and short keys sit next to long ones.
const key = fc.oneof(
  fc.uint8Array({ maxLength: 6 }),
  fc
    .tuple(
      fc.constantFrom([1, 2, 3, 4], [9, 9, 9, 9], [1, 2, 3, 4, 5, 6, 7, 8]),
      fc.uint8Array({ minLength: 0, maxLength: 6 }).map((a) => a.map((b) => b % 4)),
    )
    .map(([p, rest]) => Uint8Array.from([...p, ...rest])),
);

describe("BytesMap", () => {
  it("agrees with a Map keyed by hex over any sequence of sets, deletes and lookups", () => {
    const op = fc.constantFrom("set" as const, "delete" as const, "get" as const);
    fc.assert(
      fc.property(fc.array(fc.tuple(op, key, fc.integer()), { maxLength: 120 }), (ops) => {
        const ours = new BytesMap<number>();
        const model = new Map<string, number>();
        for (const [kind, k, v] of ops) {
          if (kind === "set") {
            ours.set(k.slice(), v);
            model.set(toHex(k), v);
          } else if (kind === "delete") {
            expect(ours.delete(k)).toBe(model.delete(toHex(k)));
          }
          expect(ours.get(k)).toBe(model.get(toHex(k)));
          expect(ours.has(k)).toBe(model.has(toHex(k)));
        }
      }),
    );
  });

  it("compares at most eight keys per lookup when an attacker's keys share 28 of 32 bytes", () => {
    // Members choose their HPKE keys, which need not be usable: 5,000 keys alike but for
    // their last four bytes all fell into one bucket, a 5,000-long scan on every lookup.
    const ours = new BytesMap<number>();
    const crafted = (i: number) => {
      const k = new Uint8Array(32).fill(7);
      new DataView(k.buffer).setUint32(28, i * 2654435761);
      return k;
    };
    for (let i = 0; i < 5000; i++) ours.set(crafted(i), i);
    expect(ours.longestScan()).toBeLessThanOrEqual(8);
    for (let i = 0; i < 5000; i++) expect(ours.get(crafted(i))).toBe(i);
    expect(ours.get(new Uint8Array(32).fill(7))).toBeUndefined();
  });
});
