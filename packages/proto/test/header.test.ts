import { describe, expect, it } from "vitest";
import { HEADER_SIZE, MAGIC, Offset, VERSION } from "../src/constants.js";
import { FrameHeader, stampSequence, validateHeader, writeHeader } from "../src/header.js";
import { Flag, Opcode } from "../src/opcodes.js";

const fields = {
  flags: Flag.RESPONSE | Flag.EXTERNAL,
  opcode: Opcode.COMMIT,
  requestId: 0x01020304,
  roomId: 0x1112131415161718191a1b1c1d1e1f20n,
  senderId: 0x2122232425262728n,
  logIndex: 0x3132333435363738n,
  hlcTimestamp: 0x4142434445464748n,
  epoch: 0x5152535455565758n,
  payloadSize: 0x61626364,
};

describe("header layout (DESIGN §3)", () => {
  it("writes every field at its exact offset, big-endian", () => {
    const buf = new Uint8Array(HEADER_SIZE).fill(0xee);
    writeHeader(buf, 0, fields);
    const hexAt = (off: number, len: number) =>
      Buffer.from(buf.subarray(off, off + len)).toString("hex");
    expect(hexAt(0, 4)).toBe("53554e44");
    expect(buf[4]).toBe(1);
    expect(buf[5]).toBe(0b0011);
    expect(hexAt(6, 2)).toBe("0302");
    expect(hexAt(8, 4)).toBe("01020304");
    expect(hexAt(12, 16)).toBe("1112131415161718191a1b1c1d1e1f20");
    expect(hexAt(28, 8)).toBe("2122232425262728");
    expect(hexAt(36, 8)).toBe("3132333435363738");
    expect(hexAt(44, 8)).toBe("4142434445464748");
    expect(hexAt(52, 8)).toBe("5152535455565758");
    expect(hexAt(60, 4)).toBe("61626364");
    expect(buf.subarray(64, 128).every((b) => b === 0)).toBe(true);
    expect(Offset.SIGNATURE + 64).toBe(HEADER_SIZE);
  });

  it("reads back every field through the view without copying", () => {
    const buf = new Uint8Array(HEADER_SIZE + 10);
    writeHeader(buf, 5, fields);
    const h = FrameHeader.view(buf, 5);
    expect(h.magic).toBe(MAGIC);
    expect(h.version).toBe(VERSION);
    expect(h.toFields()).toEqual(fields);
    expect(h.has(Flag.RESPONSE)).toBe(true);
    expect(h.has(Flag.ERROR)).toBe(false);
    expect(h.bytes.buffer).toBe(buf.buffer);
    expect(h.bytes.byteOffset).toBe(5);
    expect(h.signature.length).toBe(64);
    expect(h.signature.byteOffset).toBe(5 + 64);
    buf[5 + 8] = 0xff; // the view sees later writes: it is not a copy
    expect(h.requestId).toBe(0xff020304);
  });

  it("defaults optional fields to zero and keeps u128/u64 extremes exact", () => {
    const buf = new Uint8Array(HEADER_SIZE);
    writeHeader(buf, 0, {
      opcode: Opcode.PING,
      requestId: 0xffffffff,
      roomId: (1n << 128n) - 1n,
      senderId: (1n << 64n) - 1n,
      epoch: (1n << 64n) - 1n,
    });
    const h = FrameHeader.view(buf);
    expect(h.flags).toBe(0);
    expect(h.logIndex).toBe(0n);
    expect(h.hlcTimestamp).toBe(0n);
    expect(h.payloadSize).toBe(0);
    expect(h.roomId).toBe((1n << 128n) - 1n);
    expect(h.senderId).toBe((1n << 64n) - 1n);
    expect(h.requestId).toBe(0xffffffff);
  });

  it("stampSequence writes log_index and hlc in place and nothing else", () => {
    const buf = new Uint8Array(HEADER_SIZE);
    writeHeader(buf, 0, { ...fields, logIndex: 0n, hlcTimestamp: 0n });
    const before = buf.slice();
    stampSequence(buf, 42n, 1700000000000n << 16n);
    const h = FrameHeader.view(buf);
    expect(h.logIndex).toBe(42n);
    expect(h.hlcTimestamp).toBe(1700000000000n << 16n);
    for (let i = 0; i < HEADER_SIZE; i++) {
      if (i >= 36 && i < 52) continue;
      expect(buf[i]).toBe(before[i]);
    }
  });

  it("validateHeader checks in the documented order", () => {
    const buf = new Uint8Array(HEADER_SIZE);
    writeHeader(buf, 0, { ...fields, payloadSize: 100 });
    const h = FrameHeader.view(buf);
    expect(() => validateHeader(h, 99)).toThrow(/PAYLOAD_TOO_LARGE/);
    validateHeader(h, 100);
    buf[7] = 0x99; // unknown opcode
    expect(() => validateHeader(h, 100)).toThrow(/UNKNOWN_OPCODE/);
    buf[5] = 0x10; // reserved flag beats opcode
    expect(() => validateHeader(h, 100)).toThrow(/RESERVED_FLAGS/);
    buf[4] = 2;
    expect(() => validateHeader(h, 100)).toThrow(/BAD_VERSION/);
    buf[0] = 0;
    expect(() => validateHeader(h, 100)).toThrow(/BAD_MAGIC/);
  });
});
