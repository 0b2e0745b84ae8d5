/**
 * A table of hostile inputs pushed through every public function (CONVENTIONS "noble"):
 * wire input must fail with ProtocolError and a stable code; programmer errors (wrong
 * argument types or ranges) with TypeError/RangeError; nothing else escapes.
 */
import { describe, expect, it } from "vitest";
import { HEADER_SIZE } from "../src/constants.js";
import { createDeviceSigner } from "../src/ed25519.js";
import type { ProtocolError } from "../src/errors.js";
import { encodeFrame, Frame } from "../src/frame.js";
import { FrameHeader, stampSequence, writeHeader } from "../src/header.js";
import { deriveSenderId } from "../src/identity.js";
import { Opcode } from "../src/opcodes.js";
import {
  decodeErrorPayload,
  decodePayload,
  encodeErrorPayload,
  encodePayload,
} from "../src/payloads/codec.js";
import { generateDeviceKey, signedView, signFrame, verifyFrame } from "../src/signing.js";
import { StreamDecoder } from "../src/streamDecoder.js";
import { seededRng } from "./helpers.js";

type Expect = "ProtocolError" | "TypeError" | "RangeError";
const key = generateDeviceKey(seededRng("hostile"));
const good = encodeFrame(
  {
    opcode: Opcode.PING,
    requestId: 1,
    roomId: 1n,
    senderId: 1n,
    epoch: 0n,
    payload: encodePayload(Opcode.PING, { nonce: 1 }),
  },
  key.signer,
);
const fields = { opcode: Opcode.PING, requestId: 1, roomId: 1n, senderId: 1n, epoch: 0n };
const anyFn = (f: unknown) => f as (...args: unknown[]) => unknown;

const table: [string, () => unknown, Expect, string?][] = [
  ["Frame.fromWire(null)", () => anyFn(Frame.fromWire)(null), "TypeError"],
  ["Frame.fromWire(string)", () => anyFn(Frame.fromWire)("abc"), "TypeError"],
  ["Frame.fromWire(empty)", () => Frame.fromWire(new Uint8Array(0)), "ProtocolError", "TRUNCATED"],
  [
    "Frame.fromWire(zeros)",
    () => Frame.fromWire(new Uint8Array(200)),
    "ProtocolError",
    "BAD_MAGIC",
  ],
  ["Frame.fromWire(maxPayload -1)", () => Frame.fromWire(good, { maxPayload: -1 }), "RangeError"],
  [
    "Frame.fromWire(maxPayload NaN)",
    () => Frame.fromWire(good, { maxPayload: Number.NaN }),
    "RangeError",
  ],
  [
    "FrameHeader.view(short)",
    () => FrameHeader.view(new Uint8Array(127)),
    "ProtocolError",
    "TRUNCATED",
  ],
  [
    "FrameHeader.view(offset past end)",
    () => FrameHeader.view(good, 10_000),
    "ProtocolError",
    "TRUNCATED",
  ],
  ["FrameHeader.view(negative offset)", () => FrameHeader.view(good, -1), "RangeError"],
  ["FrameHeader.view(array)", () => anyFn(FrameHeader.view)([1, 2, 3]), "TypeError"],
  ["new Frame(bad header)", () => new Frame({} as FrameHeader, new Uint8Array(0)), "TypeError"],
  ["new Frame(bad payload)", () => new Frame(FrameHeader.view(good), "x" as never), "TypeError"],
  ["writeHeader(small target)", () => writeHeader(new Uint8Array(64), 0, fields), "RangeError"],
  [
    "writeHeader(offset overflow)",
    () => writeHeader(new Uint8Array(200), 100, fields),
    "RangeError",
  ],
  [
    "writeHeader(null fields)",
    () => writeHeader(new Uint8Array(128), 0, null as never),
    "TypeError",
  ],
  ["writeHeader(not a buffer)", () => writeHeader([] as never, 0, fields), "TypeError"],
  [
    "writeHeader(unknown opcode)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, opcode: 0x9999 }),
    "RangeError",
  ],
  [
    "writeHeader(reserved flags)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, flags: 0x10 }),
    "RangeError",
  ],
  [
    "writeHeader(flags > 255)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, flags: 256 }),
    "RangeError",
  ],
  [
    "writeHeader(requestId 2^32)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, requestId: 2 ** 32 }),
    "RangeError",
  ],
  [
    "writeHeader(requestId 1.5)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, requestId: 1.5 }),
    "RangeError",
  ],
  [
    "writeHeader(roomId 2^128)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, roomId: 1n << 128n }),
    "RangeError",
  ],
  [
    "writeHeader(senderId -1)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, senderId: -1n }),
    "RangeError",
  ],
  [
    "writeHeader(epoch number)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, epoch: 1 as never }),
    "RangeError",
  ],
  [
    "writeHeader(payloadSize -1)",
    () => writeHeader(new Uint8Array(128), 0, { ...fields, payloadSize: -1 }),
    "RangeError",
  ],
  ["stampSequence(short)", () => stampSequence(new Uint8Array(10), 1n, 1n), "TypeError"],
  ["stampSequence(logIndex 2^64)", () => stampSequence(good.slice(), 1n << 64n, 1n), "RangeError"],
  ["encodeFrame(null)", () => encodeFrame(null as never), "TypeError"],
  [
    "encodeFrame(payload string)",
    () => encodeFrame({ ...fields, payload: "x" as never }),
    "TypeError",
  ],
  [
    "decodePayload(unknown opcode)",
    () => decodePayload(0x1234 as Opcode, new Uint8Array([0xa0])),
    "ProtocolError",
    "UNKNOWN_OPCODE",
  ],
  [
    "decodePayload(opcode string)",
    () => decodePayload("PING" as never, new Uint8Array([0xa0])),
    "ProtocolError",
    "UNKNOWN_OPCODE",
  ],
  ["decodePayload(not bytes)", () => decodePayload(Opcode.PING, "a0" as never), "TypeError"],
  [
    "decodePayload(deep nesting)",
    () => decodePayload(Opcode.PING, new Uint8Array(100_000).fill(0x81)),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "decodePayload(huge declared length)",
    () =>
      decodePayload(
        Opcode.PROPOSAL,
        new Uint8Array([
          0xa1,
          0x67,
          ...Buffer.from("message"),
          0x5b,
          0xff,
          0xff,
          0xff,
          0xff,
          0xff,
          0xff,
          0xff,
          0xff,
        ]),
      ),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "decodePayload(tag date)",
    () =>
      decodePayload(Opcode.PING, new Uint8Array([0xa1, 0x65, ...Buffer.from("nonce"), 0xc1, 0x01])),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "decodePayload(__proto__ key)",
    () =>
      decodePayload(Opcode.ACK, new Uint8Array([0xa1, 0x69, ...Buffer.from("__proto__"), 0xa0])),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "decodePayload(shared-ref cycle)",
    () =>
      decodePayload(
        Opcode.KP_UPLOAD,
        new Uint8Array([
          0xa2,
          0x6c,
          ...Buffer.from("key_packages"),
          0xd8,
          0x1c,
          0x81,
          0xd8,
          0x1d,
          0x00,
          0x6b,
          ...Buffer.from("last_resort"),
          0xf4,
        ]),
      ),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "encodePayload(null)",
    () => encodePayload(Opcode.PING, null as never),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "encodePayload(array)",
    () => encodePayload(Opcode.PING, [1] as never),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  [
    "encodePayload(class instance)",
    () => encodePayload(Opcode.ACK, new Date() as never),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  ["encodeErrorPayload(bad code)", () => encodeErrorPayload("NOPE" as never, ""), "TypeError"],
  [
    "decodeErrorPayload(garbage)",
    () => decodeErrorPayload(new Uint8Array([0xff])),
    "ProtocolError",
    "BAD_PAYLOAD",
  ],
  ["signedView(short)", () => signedView(new Uint8Array(5)), "ProtocolError", "TRUNCATED"],
  [
    "signedView(payload missing)",
    () => signedView(good.subarray(0, HEADER_SIZE)),
    "ProtocolError",
    "TRUNCATED",
  ],
  ["signedView(not bytes)", () => signedView({} as never), "TypeError"],
  [
    "signFrame(short)",
    () => signFrame(new Uint8Array(64), key.signer),
    "ProtocolError",
    "TRUNCATED",
  ],
  [
    "signFrame(bad signer)",
    () => signFrame(good.slice(), { publicKey: new Uint8Array(32), sign: () => new Uint8Array(3) }),
    "TypeError",
  ],
  [
    "verifyFrame(key 31 bytes)",
    () => verifyFrame(Frame.fromWire(good), new Uint8Array(31)),
    "TypeError",
  ],
  ["createDeviceSigner(short seed)", () => createDeviceSigner(new Uint8Array(16)), "TypeError"],
  ["createDeviceSigner(string)", () => createDeviceSigner("seed" as never), "TypeError"],
  ["signer.sign(string)", () => key.signer.sign("x" as never), "TypeError"],
  [
    "generateDeviceKey(bad rng)",
    () => generateDeviceKey({ bytes: () => new Uint8Array(3) }),
    "TypeError",
  ],
  ["deriveSenderId(short)", () => deriveSenderId(new Uint8Array(8)), "TypeError"],
  [
    "new StreamDecoder(maxPayload 2^33)",
    () => new StreamDecoder({ maxPayload: 2 ** 33 }),
    "RangeError",
  ],
  ["StreamDecoder.push(string)", () => new StreamDecoder().push("x" as never), "TypeError"],
  [
    "StreamDecoder.push(zeros)",
    () => new StreamDecoder().push(new Uint8Array(128)),
    "ProtocolError",
    "BAD_MAGIC",
  ],
];

describe("hostile inputs to every public function", () => {
  for (const [name, fn, kind, code] of table) {
    it(`${name} → ${kind}${code ? ` ${code}` : ""}`, () => {
      let caught: unknown;
      try {
        fn();
      } catch (e) {
        caught = e;
      }
      expect(caught, "must throw").toBeDefined();
      expect((caught as Error).constructor.name).toBe(kind);
      if (code !== undefined) expect((caught as ProtocolError).code).toBe(code);
    });
  }

  it("accepts valid but unusual CBOR (an indefinite-length map) by its value", () => {
    const indefinite = new Uint8Array([0xbf, 0x65, ...Buffer.from("nonce"), 0x01, 0xff]);
    expect(decodePayload(Opcode.PING, indefinite)).toEqual({ nonce: 1 });
  });

  it("verifyFrame returns false (never throws) for structurally valid but wrong data", () => {
    const f = Frame.fromWire(good);
    expect(verifyFrame(f, new Uint8Array(32))).toBe(false);
    expect(verifyFrame({ header: f.header, payload: new Uint8Array(1000) }, key.publicKey)).toBe(
      false,
    );
  });
});
