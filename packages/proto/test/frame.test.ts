import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PAYLOAD, HEADER_SIZE } from "../src/constants.js";
import { isProtocolError, ProtocolError } from "../src/errors.js";
import { encodeFrame, Frame } from "../src/frame.js";
import { FrameHeader } from "../src/header.js";
import { ALL_OPCODES, Opcode, type Opcode as OpcodeT } from "../src/opcodes.js";
import { decodePayload } from "../src/payloads/codec.js";
import { verifyFrame } from "../src/signing.js";
import { fcParams } from "./helpers.js";

function frameBytes(payload = new Uint8Array([1, 2, 3])): Uint8Array {
  return encodeFrame({
    opcode: Opcode.APP_MESSAGE,
    requestId: 9,
    roomId: 77n,
    senderId: 5n,
    epoch: 3n,
    payload,
  });
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

describe("Frame.fromWire", () => {
  it("decodes header and payload as views into the input", () => {
    const bytes = frameBytes();
    const f = Frame.fromWire(bytes);
    expect(f.header.opcode).toBe(Opcode.APP_MESSAGE);
    expect(f.header.roomId).toBe(77n);
    expect(f.payload).toEqual(new Uint8Array([1, 2, 3]));
    expect(f.payload.buffer).toBe(bytes.buffer);
    expect(f.payload.byteOffset).toBe(HEADER_SIZE);
    expect(f.header.bytes.buffer).toBe(bytes.buffer);
  });

  it("toWire returns the same bytes without copying when adjacent", () => {
    const bytes = frameBytes();
    const wire = Frame.fromWire(bytes).toWire();
    expect(wire).toEqual(bytes);
    expect(wire.buffer).toBe(bytes.buffer);
  });

  it("toWire concatenates a header and payload from different buffers", () => {
    const a = frameBytes(new Uint8Array([9, 9]));
    const header = FrameHeader.view(a.slice(0, HEADER_SIZE));
    const f = new Frame(header, new Uint8Array([9, 9]));
    expect(f.toWire()).toEqual(a);
  });

  it("rejects each malformation with its code", () => {
    const ok = frameBytes();
    const mut = (i: number, v: number) => {
      const b = ok.slice();
      b[i] = v;
      return b;
    };
    expect(codeOf(() => Frame.fromWire(ok))).toBe("OK");
    expect(codeOf(() => Frame.fromWire(mut(0, 0)))).toBe("BAD_MAGIC");
    expect(codeOf(() => Frame.fromWire(mut(4, 2)))).toBe("BAD_VERSION");
    expect(codeOf(() => Frame.fromWire(mut(5, 0x80)))).toBe("RESERVED_FLAGS");
    expect(codeOf(() => Frame.fromWire(mut(6, 0xff)))).toBe("UNKNOWN_OPCODE");
    expect(codeOf(() => Frame.fromWire(ok.subarray(0, 100)))).toBe("TRUNCATED");
    expect(codeOf(() => Frame.fromWire(ok.subarray(0, ok.length - 1)))).toBe("TRUNCATED");
    const trailing = new Uint8Array(ok.length + 1);
    trailing.set(ok);
    expect(codeOf(() => Frame.fromWire(trailing))).toBe("TRAILING_BYTES");
    expect(codeOf(() => Frame.fromWire(ok, { maxPayload: 2 }))).toBe("PAYLOAD_TOO_LARGE");
    const huge = ok.slice(0, HEADER_SIZE);
    new DataView(huge.buffer).setUint32(60, DEFAULT_MAX_PAYLOAD + 1);
    expect(codeOf(() => Frame.fromWire(huge))).toBe("PAYLOAD_TOO_LARGE");
    new DataView(huge.buffer).setUint32(60, DEFAULT_MAX_PAYLOAD);
    expect(codeOf(() => Frame.fromWire(huge))).toBe("TRUNCATED");
  });

  it("carries stable numeric codes", () => {
    try {
      Frame.fromWire(new Uint8Array(3));
      expect.unreachable();
    } catch (e) {
      expect(isProtocolError(e, "TRUNCATED")).toBe(true);
      expect((e as ProtocolError).numeric).toBe(6);
      expect((e as ProtocolError).name).toBe("ProtocolError");
    }
  });

  it("accepts an empty payload and the exact payload limit", () => {
    const empty = frameBytes(new Uint8Array(0));
    expect(Frame.fromWire(empty).payload.length).toBe(0);
    const f = Frame.fromWire(frameBytes(new Uint8Array(10)), { maxPayload: 10 });
    expect(f.payload.length).toBe(10);
  });

  it("Frame constructor refuses a payload whose length differs from payload_size", () => {
    const h = FrameHeader.view(frameBytes());
    expect(() => new Frame(h, new Uint8Array(2))).toThrow(RangeError);
  });

  it("property: random bytes only ever produce ProtocolError, through the whole pipeline", () => {
    // Half the inputs start with a valid magic/version/opcode so the deeper checks run too.
    const prefixed = fc
      .tuple(
        fc.constantFrom(...ALL_OPCODES),
        fc.nat({ max: 15 }),
        fc.uint8Array({ maxLength: 400 }),
      )
      .map(([op, flags, rest]) => {
        const b = new Uint8Array(Math.max(rest.length, 8));
        b.set(rest);
        b.set([0x53, 0x55, 0x4e, 0x44, 1, flags, op >> 8, op & 0xff]);
        if (b.length >= 64) new DataView(b.buffer).setUint32(60, Math.max(0, b.length - 128));
        return b;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), prefixed), (bytes) => {
        try {
          const f = Frame.fromWire(bytes, { maxPayload: 1024 });
          verifyFrame(f, new Uint8Array(32).fill(7));
          decodePayload(f.header.opcode as OpcodeT, f.payload);
        } catch (e) {
          return e instanceof ProtocolError;
        }
        return true;
      }),
      fcParams(2000),
    );
  });
});
