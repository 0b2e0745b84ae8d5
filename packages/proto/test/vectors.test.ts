import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createDeviceSigner } from "../src/ed25519.js";
import { ErrorCode, ProtocolError } from "../src/errors.js";
import { encodeFrame, Frame } from "../src/frame.js";
import { stampSequence } from "../src/header.js";
import { ALL_OPCODES, type Opcode } from "../src/opcodes.js";
import { decodePayload } from "../src/payloads/codec.js";
import { signedView, signFrame, verifyFrame } from "../src/signing.js";
import {
  buildVectors,
  fromJson,
  headerJson,
  type InvalidVector,
  VECTORS_PATH,
  type Vectors,
} from "./gen-vectors.js";
import { hex, unhex } from "./helpers.js";

const vectors = JSON.parse(readFileSync(VECTORS_PATH, "utf8")) as Vectors;

function runInvalid(v: InvalidVector): void {
  const opts = v.max_payload === undefined ? undefined : { maxPayload: v.max_payload };
  const frame = Frame.fromWire(unhex(v.frame_hex), opts);
  if (v.stage === "frame") return;
  decodePayload(frame.header.opcode as Opcode, frame.payload);
  if (v.stage === "payload") return;
  if (!verifyFrame(frame, unhex(v.public_key!))) {
    throw new ProtocolError("BAD_SIGNATURE", "signature does not verify");
  }
}

describe("test vectors (test/vectors.json)", () => {
  it("are up to date with the deterministic generator", () => {
    expect(JSON.parse(JSON.stringify(buildVectors()))).toEqual(vectors);
  });

  it("cover every opcode with a valid frame", () => {
    expect(vectors.valid.map((v) => v.opcode).sort((a, b) => a - b)).toEqual([...ALL_OPCODES]);
  });

  for (const v of vectors.valid) {
    it(`valid ${v.name}: decodes, verifies and re-encodes byte for byte`, () => {
      const bytes = unhex(v.frame_hex);
      const frame = Frame.fromWire(bytes);
      expect(headerJson(frame.header)).toEqual(v.header);
      expect(hex(frame.payload)).toBe(v.payload_hex);
      expect(decodePayload(v.opcode as Opcode, frame.payload)).toEqual(fromJson(v.payload));
      expect(hex(signedView(bytes))).toBe(v.signed_view_hex);
      expect(verifyFrame(frame, unhex(v.public_key))).toBe(true);
      const key = Object.values(vectors.keys).find((k) => k.public_key === v.public_key)!;
      const signer = createDeviceSigner(unhex(key.seed));
      const h = frame.header;
      // Device frames: signed, then stamped. Hub frames (sender 0): stamped, then signed.
      const hubSigned = h.senderId === 0n;
      const again = encodeFrame(
        {
          flags: h.flags,
          opcode: h.opcode,
          requestId: h.requestId,
          roomId: h.roomId,
          senderId: h.senderId,
          epoch: h.epoch,
          payload: frame.payload,
        },
        hubSigned ? undefined : signer,
      );
      stampSequence(again, h.logIndex, h.hlcTimestamp);
      if (hubSigned) signFrame(again, signer);
      expect(hex(again)).toBe(v.frame_hex);
    });
  }

  for (const v of vectors.invalid) {
    it(`invalid "${v.name}" fails at ${v.stage} with ${v.error}`, () => {
      expect(ErrorCode[v.error]).toBe(v.error_numeric);
      let caught: unknown;
      try {
        runInvalid(v);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ProtocolError);
      expect((caught as ProtocolError).code).toBe(v.error);
      // Earlier stages pass: an invalid vector tests exactly one thing.
      if (v.stage !== "frame") {
        const frame = Frame.fromWire(unhex(v.frame_hex));
        if (v.stage === "signature") {
          expect(() => decodePayload(frame.header.opcode as Opcode, frame.payload)).not.toThrow();
        }
      }
    });
  }
});
