import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cborEncode } from "../src/cbor.js";
import { checkStrictCbor, MAX_DEPTH } from "../src/cborCheck.js";
import { ProtocolError } from "../src/errors.js";
import { Opcode } from "../src/opcodes.js";
import { decodePayload } from "../src/payloads/codec.js";
import { fcParams } from "./helpers.js";

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ""), "hex"));

function verdict(bytes: Uint8Array): string {
  try {
    checkStrictCbor(bytes);
    return "ok";
  } catch (e) {
    if (e instanceof ProtocolError && e.code === "BAD_PAYLOAD") return "bad";
    throw e;
  }
}

describe("strict CBOR subset (cborCheck.ts)", () => {
  const cases: [string, string, "ok" | "bad"][] = [
    ["empty map", "a0", "ok"],
    ["map with text key", "a1 61 61 01", "ok"],
    ["nested arrays, bytes, text, bools, null", "83 f4 f5 82 f6 43 010203 ", "ok"],
    ["long-form integer", "1b 0000000000000005", "ok"],
    ["negative integer", "20", "ok"],
    ["indefinite array", "9f 01 02 ff", "ok"],
    ["indefinite map", "bf 61 61 01 ff", "ok"],
    ["empty input", "", "bad"],
    ["duplicate key", "a2 61 61 01 61 61 02", "bad"],
    ["duplicate key in indefinite map", "bf 61 61 01 61 61 02 ff", "bad"],
    ["integer key", "a1 01 02", "bad"],
    ["bytes key", "a1 41 61 02", "bad"],
    ["invalid UTF-8 text", "62 c3 28", "bad"],
    ["UTF-16 surrogate in text", "63 ed a0 80", "bad"],
    ["invalid UTF-8 key", "a1 61 ff 01", "bad"],
    ["half float", "f9 3e00", "bad"],
    ["single float", "fa 3f800000", "bad"],
    ["double float", "fb 3ff0000000000000", "bad"],
    ["undefined", "f7", "bad"],
    ["simple value 16", "f0", "bad"],
    ["simple value one-byte", "f8 20", "bad"],
    ["tag 1 (date)", "c1 01", "bad"],
    ["tag 2 (bignum)", "c2 41 05", "bad"],
    ["tag 24 (embedded CBOR)", "d8 18 41 a0", "bad"],
    ["indefinite byte string", "5f 41 01 ff", "bad"],
    ["indefinite text string", "7f 61 61 ff", "bad"],
    ["indefinite integer", "1f", "bad"],
    ["reserved additional info", "1c", "bad"],
    ["lone break", "ff", "bad"],
    ["break inside definite array", "82 01 ff", "bad"],
    ["break as map value", "a1 61 61 ff", "bad"],
    ["unterminated indefinite array", "9f 01", "bad"],
    ["truncated head", "19 01", "bad"],
    ["string longer than input", "45 0102", "bad"],
    ["array longer than input", "9a ffffffff", "bad"],
    ["map longer than input", "ba ffffffff", "bad"],
    ["huge 8-byte length", "5b ffffffffffffffff", "bad"],
    ["trailing bytes", "a0 00", "bad"],
    ["two items", "01 02", "bad"],
  ];
  for (const [name, hexs, expected] of cases) {
    it(`${name} → ${expected}`, () => expect(verdict(h(hexs))).toBe(expected));
  }

  it(`limits nesting to ${MAX_DEPTH} levels`, () => {
    const nested = (n: number) => new Uint8Array([...new Array(n).fill(0x81), 0x01]);
    expect(verdict(nested(MAX_DEPTH))).toBe("ok");
    expect(verdict(nested(MAX_DEPTH + 1))).toBe("bad");
    const maps = (n: number) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = { k: v };
      return cborEncode(v);
    };
    expect(verdict(maps(MAX_DEPTH))).toBe("ok");
    expect(verdict(maps(MAX_DEPTH + 1))).toBe("bad");
  });

  it("is enforced by decodePayload (floats, duplicates, tags never reach the schema)", () => {
    const dup = h("a2 65 6e6f6e6365 01 65 6e6f6e6365 02"); // {nonce: 1, nonce: 2}
    expect(() => decodePayload(Opcode.PING, dup)).toThrow(/duplicate map key "nonce"/);
    const float = h("a1 65 6e6f6e6365 f9 3c00"); // {nonce: 1.0}
    expect(() => decodePayload(Opcode.PING, float)).toThrow(/floats/);
    const tagged = h("a1 65 6e6f6e6365 c2 41 05"); // {nonce: bignum(5)}
    expect(() => decodePayload(Opcode.PING, tagged)).toThrow(/tags/);
  });

  it("property: accepts everything our encoder writes from JSON-like values", () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small", maxDepth: 5 },
        fc.nat(),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 20 }),
        fc.array(tie("v"), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie("v"), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => verdict(cborEncode(v)) === "ok"),
      fcParams(500),
    );
  });

  it("property: random bytes give ok or BAD_PAYLOAD, never another error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        verdict(b);
      }),
      fcParams(3000),
    );
  });
});
