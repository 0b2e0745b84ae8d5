import fc from "fast-check";
import { describe, expect, expectTypeOf, it } from "vitest";
import { cborEncode } from "../src/cbor.js";
import { ErrorCode, ProtocolError } from "../src/errors.js";
import { ALL_OPCODES, Opcode, opcodeName } from "../src/opcodes.js";
import {
  decodeErrorPayload,
  decodePayload,
  encodeErrorPayload,
  encodePayload,
  errorFromPayload,
} from "../src/payloads/codec.js";
import type { Codec } from "../src/payloads/schema.js";
import { PAYLOAD_SCHEMAS } from "../src/payloads/schemas.js";
import { arbitraryFor, fcParams } from "./helpers.js";

function schema(op: Opcode): Codec<unknown> {
  return PAYLOAD_SCHEMAS[op] as Codec<unknown>;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return "OK";
}

/** A wrong value of a different CBOR type than the field expects. */
function wrongValue(c: Codec<unknown>): unknown {
  switch (c.spec.kind) {
    case "bytes":
      return "not bytes";
    case "text":
    case "oneOf":
      return new Uint8Array([1]);
    case "bool":
      return 1;
    case "uint":
    case "u64":
      return "1";
    case "array":
      return { not: "an array" };
    case "nullable":
      return true;
    case "struct":
      return [1, 2];
  }
}

describe("payload codecs", () => {
  it("has one schema for every opcode", () => {
    for (const op of ALL_OPCODES) expect(PAYLOAD_SCHEMAS[op], opcodeName(op)).toBeDefined();
    expect(Object.keys(PAYLOAD_SCHEMAS).length).toBe(ALL_OPCODES.length);
  });

  for (const op of ALL_OPCODES) {
    const name = opcodeName(op)!;
    it(`property: ${name} round trips encode → decode`, () => {
      fc.assert(
        fc.property(arbitraryFor(schema(op)), (value) => {
          const bytes = encodePayload(op, value as never);
          const back = decodePayload(op, bytes);
          expect(back).toEqual(value);
          // Re-encoding is byte-identical: the encoding is deterministic.
          expect(encodePayload(op, back as never)).toEqual(bytes);
        }),
        fcParams(60),
      );
    });
  }

  it("rejects a missing, an extra and a wrongly typed field for every opcode", () => {
    for (const op of ALL_OPCODES) {
      const name = opcodeName(op)!;
      const shape = (schema(op).spec as { shape: Record<string, Codec<unknown>> }).shape;
      const sample = fc.sample(arbitraryFor(schema(op)), { seed: 42, numRuns: 1 })[0] as Record<
        string,
        unknown
      >;
      const values: Record<string, unknown> = { ...sample };
      for (const [k, f] of Object.entries(shape)) {
        if (!(k in values)) values[k] = fc.sample(arbitraryFor(f), { seed: 1, numRuns: 1 })[0];
      }
      // In wire form: a uint above 2^32 as a bigint (cborEncode would write the JS number as
      // a float, which no payload accepts).
      const full = schema(op).toCbor(values, "") as Record<string, unknown>;
      expect(
        codeOf(() => decodePayload(op, cborEncode(full))),
        name,
      ).toBe("OK");
      expect(
        codeOf(() => decodePayload(op, cborEncode({ ...full, extra: 1 }))),
        name,
      ).toBe("BAD_PAYLOAD");
      expect(
        codeOf(() => encodePayload(op, { ...full, extra: 1 } as never)),
        name,
      ).toBe("BAD_PAYLOAD");
      for (const [k, f] of Object.entries(shape)) {
        const without = { ...full };
        delete without[k];
        const missing = codeOf(() => decodePayload(op, cborEncode(without)));
        expect(missing, `${name}.${k} missing`).toBe(f.optional ? "OK" : "BAD_PAYLOAD");
        const wrong = { ...full, [k]: wrongValue(f) };
        expect(
          codeOf(() => decodePayload(op, cborEncode(wrong))),
          `${name}.${k} wrong`,
        ).toBe("BAD_PAYLOAD");
        expect(
          codeOf(() => encodePayload(op, wrong as never)),
          `${name}.${k} wrong`,
        ).toBe("BAD_PAYLOAD");
      }
      for (const bad of [[], null, "x", 1, new Uint8Array(2)]) {
        expect(
          codeOf(() => decodePayload(op, cborEncode(bad))),
          name,
        ).toBe("BAD_PAYLOAD");
      }
    }
  });

  it("types decoded payloads per opcode", () => {
    const bytes = encodePayload(Opcode.COMMIT, {
      commit: new Uint8Array([1]),
      group_info: new Uint8Array([2]),
      welcome_recipients: [1n, 2n],
    });
    const c = decodePayload(Opcode.COMMIT, bytes);
    expectTypeOf(c).toEqualTypeOf<{
      commit: Uint8Array;
      group_info: Uint8Array;
      welcome?: Uint8Array;
      welcome_recipients?: bigint[];
    }>();
    expect(c.welcome).toBeUndefined();
    expect(c.welcome_recipients).toEqual([1n, 2n]);
    expect("welcome" in c).toBe(false);
  });

  it("u64 fields round trip across the 2^53 boundary and reject out-of-range values", () => {
    for (const v of [0n, 23n, 24n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n]) {
      const b = encodePayload(Opcode.DEVICE_REVOKE, { sender_id: v });
      expect(decodePayload(Opcode.DEVICE_REVOKE, b).sender_id).toBe(v);
    }
    expect(
      Buffer.from(encodePayload(Opcode.DEVICE_REVOKE, { sender_id: 1n })).toString("hex"),
    ).toBe("a16973656e6465725f696401");
    expect(codeOf(() => encodePayload(Opcode.DEVICE_REVOKE, { sender_id: 1n << 64n }))).toBe(
      "BAD_PAYLOAD",
    );
    expect(codeOf(() => encodePayload(Opcode.DEVICE_REVOKE, { sender_id: -1n }))).toBe(
      "BAD_PAYLOAD",
    );
    expect(codeOf(() => encodePayload(Opcode.DEVICE_REVOKE, { sender_id: 1 as never }))).toBe(
      "BAD_PAYLOAD",
    );
    // Negative integers, floats, 2^64 as a bignum tag: all refused on decode.
    for (const hexs of ["a16973656e6465725f696420", "a16973656e6465725f6964f93e00"]) {
      expect(codeOf(() => decodePayload(Opcode.DEVICE_REVOKE, Buffer.from(hexs, "hex")))).toBe(
        "BAD_PAYLOAD",
      );
    }
    const big = cborEncode({ sender_id: 1n << 64n });
    expect(codeOf(() => decodePayload(Opcode.DEVICE_REVOKE, big))).toBe("BAD_PAYLOAD");
  });

  it("writes large integers as CBOR integers, never floats", () => {
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");
    // {nonce: 2^32} and {nonce: 2^53-1}: major type 0 with an 8-byte argument.
    expect(hexOf(encodePayload(Opcode.PING, { nonce: 2 ** 32 }))).toBe(
      "a1656e6f6e63651b0000000100000000",
    );
    expect(hexOf(encodePayload(Opcode.PING, { nonce: Number.MAX_SAFE_INTEGER }))).toBe(
      "a1656e6f6e63651b001fffffffffffff",
    );
    expect(hexOf(encodePayload(Opcode.PING, { nonce: 2 ** 32 - 1 }))).toBe(
      "a1656e6f6e63651affffffff",
    );
    expect(hexOf(encodePayload(Opcode.DEVICE_REVOKE, { sender_id: 2n ** 40n }))).toBe(
      "a16973656e6465725f69641b0000010000000000",
    );
    expect(decodePayload(Opcode.PING, encodePayload(Opcode.PING, { nonce: 2 ** 40 }))).toEqual({
      nonce: 2 ** 40,
    });
  });

  it("uint fields accept a long-form small integer and refuse fractions and negatives", () => {
    // {nonce: 5} with nonce written as an 8-byte integer.
    const long = Buffer.from("a1656e6f6e63651b0000000000000005", "hex");
    expect(decodePayload(Opcode.PING, long)).toEqual({ nonce: 5 });
    expect(codeOf(() => decodePayload(Opcode.PING, cborEncode({ nonce: 1.5 })))).toBe(
      "BAD_PAYLOAD",
    );
    expect(codeOf(() => decodePayload(Opcode.PING, cborEncode({ nonce: -1 })))).toBe("BAD_PAYLOAD");
    expect(codeOf(() => encodePayload(Opcode.PING, { nonce: -1 }))).toBe("BAD_PAYLOAD");
  });

  it("rejects malformed CBOR, trailing bytes and empty input", () => {
    const ok = encodePayload(Opcode.PING, { nonce: 1 });
    const trailing = new Uint8Array(ok.length + 1);
    trailing.set(ok);
    for (const b of [new Uint8Array(0), ok.subarray(0, ok.length - 1), trailing]) {
      expect(codeOf(() => decodePayload(Opcode.PING, b))).toBe("BAD_PAYLOAD");
    }
    expect(codeOf(() => decodePayload(0x9999 as Opcode, ok))).toBe("UNKNOWN_OPCODE");
    expect(codeOf(() => encodePayload(0x9999 as Opcode, {} as never))).toBe("UNKNOWN_OPCODE");
  });

  it("optional fields may be absent or undefined on encode but not undefined on the wire", () => {
    const b = encodePayload(Opcode.ERROR, {
      code: 1,
      name: "BAD_MAGIC",
      message: "m",
      expected_epoch: undefined,
    });
    expect(decodePayload(Opcode.ERROR, b)).toEqual({ code: 1, name: "BAD_MAGIC", message: "m" });
    // {code:1,name:"x",message:"m",expected_epoch:undefined} written with CBOR undefined.
    const withUndef = cborEncode({ code: 1, name: "x", message: "m", expected_epoch: undefined });
    expect(codeOf(() => decodePayload(Opcode.ERROR, withUndef))).toBe("BAD_PAYLOAD");
  });

  it("decoded byte strings are plain Uint8Array views into the input", () => {
    const input = Buffer.from(encodePayload(Opcode.PROPOSAL, { message: new Uint8Array([4, 5]) }));
    const { message } = decodePayload(Opcode.PROPOSAL, input);
    expect(message.constructor).toBe(Uint8Array);
    expect(message.buffer).toBe(input.buffer);
  });

  it("BAN scope is restricted to room | hub", () => {
    const ok = { user_id: "mallory", scope: "hub", reason: "spam" } as const;
    expect(decodePayload(Opcode.BAN, encodePayload(Opcode.BAN, ok))).toEqual(ok);
    expect(codeOf(() => decodePayload(Opcode.BAN, cborEncode({ ...ok, scope: "world" })))).toBe(
      "BAD_PAYLOAD",
    );
  });

  it("error payload helpers round trip code, name and expected epoch", () => {
    const b = encodeErrorPayload("STALE_EPOCH", "room is at 8", { expected_epoch: 8n });
    const p = decodeErrorPayload(b);
    expect(p).toEqual({
      code: ErrorCode.STALE_EPOCH,
      name: "STALE_EPOCH",
      message: "room is at 8",
      expected_epoch: 8n,
    });
    const e = errorFromPayload(p);
    expect(e.code).toBe("STALE_EPOCH");
    expect(e.numeric).toBe(300);
    expect(errorFromPayload({ code: 999, name: "FUTURE", message: "?" }).code).toBe("INTERNAL");
    expect(decodeErrorPayload(encodeErrorPayload("INTERNAL", "x"))).not.toHaveProperty(
      "expected_epoch",
    );
    expect(() => encodeErrorPayload("NOPE" as never, "x")).toThrow(TypeError);
  });

  it("property: random bytes only ever produce ProtocolError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALL_OPCODES),
        fc.uint8Array({ maxLength: 64 }),
        (op, bytes) => {
          try {
            decodePayload(op, bytes);
          } catch (e) {
            return e instanceof ProtocolError && e.code === "BAD_PAYLOAD";
          }
          return true;
        },
      ),
      fcParams(2000),
    );
  });

  it("property: mutated valid payloads decode or fail with ProtocolError only", () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(...ALL_OPCODES)
          .chain((op) =>
            fc.tuple(fc.constant(op), arbitraryFor(schema(op)), fc.nat(), fc.nat({ max: 255 })),
          ),
        ([op, value, pos, byte]) => {
          const b = encodePayload(op, value as never).slice();
          b[pos % b.length] = byte;
          try {
            decodePayload(op, b);
          } catch (e) {
            return e instanceof ProtocolError;
          }
          return true;
        },
      ),
      fcParams(2000),
    );
  });
});
