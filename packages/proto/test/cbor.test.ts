import { encode as cborXDefaultEncode } from "cbor-x";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cborDecode, cborEncode, stateCborDecode, stateCborEncode } from "../src/cbor.js";
import { fcParams } from "./helpers.js";

describe("CBOR configurations (cbor.ts)", () => {
  it("state at rest: bigints come back as bigints, bytes as bytes, no typed-array tags", () => {
    const value = {
      next: 2n ** 63n + 5n,
      small: 7n,
      n: 3,
      b: Uint8Array.of(1, 2),
      s: "x",
      z: null,
    };
    const bytes = stateCborEncode(value);
    expect(bytes.includes(0xd8)).toBe(false); // no tag 64 (typed array) in front of the bytes
    const back = stateCborDecode(bytes) as Record<string, unknown>;
    expect(back.next).toBe(2n ** 63n + 5n);
    expect(back.small).toBe(7n);
    expect(back.n).toBe(3);
    expect(new Uint8Array(back.b as Uint8Array)).toEqual(Uint8Array.of(1, 2));
  });

  it("state at rest: reads records written with cbor-x defaults (tagged byte strings)", () => {
    const old = cborXDefaultEncode({ seed: Uint8Array.of(9, 8, 7), user_id: "u" });
    const back = stateCborDecode(old) as { seed: Uint8Array; user_id: string };
    expect(new Uint8Array(back.seed)).toEqual(Uint8Array.of(9, 8, 7));
    expect(back.user_id).toBe("u");
  });

  it("the results are owned copies: a later encode does not change them", () => {
    const a = stateCborEncode({ a: 1 });
    const copy = a.slice();
    stateCborEncode({ b: "something longer than the first one" });
    expect(a).toEqual(copy);
    const w = cborEncode({ a: 1 });
    const wCopy = w.slice();
    cborEncode({ b: "something longer than the first one" });
    expect(w).toEqual(wCopy);
  });

  it("property: both configurations round-trip JSON-like values", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string().filter((k) => k !== "__proto__"),
          fc.oneof(fc.string(), fc.integer({ min: 0, max: 1e9 }), fc.boolean()),
        ),
        (v) => {
          expect(stateCborDecode(stateCborEncode(v))).toEqual(v);
          expect(cborDecode(cborEncode(v))).toEqual(v);
        },
      ),
      fcParams(200),
    );
  });
});
