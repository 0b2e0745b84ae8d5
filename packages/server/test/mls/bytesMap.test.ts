/**
 * BytesMap (the hub's key-uniqueness index) behaves like a Map keyed by the bytes' hex, for
 * keys of any length, keys sharing their first four bytes, and keys mutated by nobody.
 */
import { toHex } from "@kalandra/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BytesMap } from "../../src/mls/bytesMap.js";

// Few distinct prefixes and short keys, so buckets collide and short keys are common.
const key = fc.oneof(
  fc.uint8Array({ maxLength: 6 }),
  fc
    .tuple(
      fc.constantFrom([1, 2, 3, 4], [9, 9, 9, 9]),
      fc.uint8Array({ minLength: 0, maxLength: 3 }),
    )
    .map(([p, rest]) => Uint8Array.from([...p, ...rest])),
);

describe("BytesMap", () => {
  it("agrees with a Map keyed by hex over any sequence of sets, deletes and lookups", () => {
    const op = fc.constantFrom("set" as const, "delete" as const, "get" as const);
    fc.assert(
      fc.property(fc.array(fc.tuple(op, key, fc.integer()), { maxLength: 60 }), (ops) => {
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
});
