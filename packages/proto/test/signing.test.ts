import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HEADER_SIZE } from "../src/constants.js";
import { createDeviceSigner } from "../src/ed25519.js";
import { encodeFrame, Frame } from "../src/frame.js";
import { FrameHeader, stampSequence } from "../src/header.js";
import { deriveSenderId } from "../src/identity.js";
import { Opcode } from "../src/opcodes.js";
import {
  assertFrameSignature,
  generateDeviceKey,
  SCRATCH_RETAIN,
  signedView,
  signFrame,
  verifyFrame,
} from "../src/signing.js";
import { fcParams, hex, seededRng } from "./helpers.js";

const alice = generateDeviceKey(seededRng("alice"));
const bob = generateDeviceKey(seededRng("bob"));

function signed(payload: Uint8Array, signer = alice.signer): Uint8Array {
  return encodeFrame(
    {
      opcode: Opcode.APP_MESSAGE,
      requestId: 1,
      roomId: 99n,
      senderId: deriveSenderId(signer.publicKey),
      epoch: 4n,
      payload,
    },
    signer,
  );
}

describe("Ed25519 frame signatures", () => {
  it("matches RFC 8032 §7.1 test 1 for the key derivation and signature", () => {
    const seed = Buffer.from(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "hex",
    );
    const s = createDeviceSigner(new Uint8Array(seed));
    expect(hex(s.publicKey)).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
    expect(hex(s.sign(new Uint8Array(0)))).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
  });

  it("generateDeviceKey is deterministic for a seeded rng and derives sender_id", () => {
    const again = generateDeviceKey(seededRng("alice"));
    expect(again.publicKey).toEqual(alice.publicKey);
    expect(again.senderId).toBe(deriveSenderId(alice.publicKey));
    expect(alice.publicKey).not.toEqual(bob.publicKey);
  });

  it("signs the documented view: header 0..64 with log_index/hlc zeroed, then payload", () => {
    const bytes = signed(new Uint8Array([7, 8, 9]));
    stampSequence(bytes, 5n, 6n);
    const view = signedView(bytes);
    expect(view.length).toBe(64 + 3);
    expect(view.subarray(0, 36)).toEqual(bytes.subarray(0, 36));
    expect(view.subarray(36, 52).every((b) => b === 0)).toBe(true);
    expect(view.subarray(52, 64)).toEqual(bytes.subarray(52, 64));
    expect(view.subarray(64)).toEqual(new Uint8Array([7, 8, 9]));
  });

  it("verifies, and still verifies after the sequencer stamps order and time", () => {
    const bytes = signed(new Uint8Array([1, 2, 3]));
    expect(verifyFrame(Frame.fromWire(bytes), alice.publicKey)).toBe(true);
    stampSequence(bytes, 123n, 456n);
    expect(verifyFrame(Frame.fromWire(bytes), alice.publicKey)).toBe(true);
    expect(verifyFrame(Frame.fromWire(bytes), bob.publicKey)).toBe(false);
    expect(() => assertFrameSignature(Frame.fromWire(bytes), bob.publicKey)).toThrow(
      /BAD_SIGNATURE/,
    );
    assertFrameSignature(Frame.fromWire(bytes), alice.publicKey);
  });

  it("an unsigned frame never verifies; an invalid key returns false", () => {
    const bytes = encodeFrame({
      opcode: Opcode.PING,
      requestId: 1,
      roomId: 0n,
      senderId: 1n,
      epoch: 0n,
      payload: new Uint8Array([0xa0]),
    });
    expect(verifyFrame(Frame.fromWire(bytes), alice.publicKey)).toBe(false);
    expect(verifyFrame(Frame.fromWire(bytes), new Uint8Array(32).fill(0xff))).toBe(false);
    expect(() => verifyFrame(Frame.fromWire(bytes), new Uint8Array(31))).toThrow(TypeError);
  });

  it("verifies payloads larger than the retained scratch buffer", () => {
    const big = signed(new Uint8Array(SCRATCH_RETAIN + 1).fill(3));
    expect(verifyFrame(Frame.fromWire(big), alice.publicKey)).toBe(true);
    const mid = signed(new Uint8Array(100_000).fill(4));
    expect(verifyFrame(Frame.fromWire(mid), alice.publicKey)).toBe(true);
  });

  it("signFrame can re-sign a frame in place with another key", () => {
    const bytes = signed(new Uint8Array([1]));
    signFrame(bytes, bob.signer);
    expect(verifyFrame(Frame.fromWire(bytes), bob.publicKey)).toBe(true);
    expect(verifyFrame(Frame.fromWire(bytes), alice.publicKey)).toBe(false);
  });

  it("property: any single bit flip in the signed region fails verification", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 48 }),
        fc.nat(),
        fc.nat({ max: 7 }),
        (payload, pos, bit) => {
          const bytes = signed(payload);
          // Signed region: header 0..36 and 52..64, the signature itself, the payload.
          const region = [
            ...Array.from({ length: 36 }, (_, i) => i),
            ...Array.from({ length: 76 }, (_, i) => 52 + i),
            ...Array.from({ length: payload.length }, (_, i) => HEADER_SIZE + i),
          ];
          const at = region[pos % region.length]!;
          bytes[at]! ^= 1 << bit;
          // Verify the raw parts even when the flip broke the framing (magic, size, …),
          // so every position is checked by the signature itself.
          const parts = { header: FrameHeader.view(bytes), payload: bytes.subarray(HEADER_SIZE) };
          return verifyFrame(parts, alice.publicKey) === false;
        },
      ),
      fcParams(300),
    );
  });

  it("property: flips in log_index/hlc do not affect verification", () => {
    fc.assert(
      fc.property(fc.integer({ min: 36, max: 51 }), fc.nat({ max: 7 }), (at, bit) => {
        const bytes = signed(new Uint8Array([5, 6]));
        bytes[at]! ^= 1 << bit;
        return verifyFrame(Frame.fromWire(bytes), alice.publicKey);
      }),
      fcParams(50),
    );
  });

  it("keeps verifying correctly when many distinct keys churn the key cache", () => {
    const rng = seededRng("churn");
    const keys = Array.from({ length: 20 }, () => generateDeviceKey(rng));
    for (const k of keys) {
      const f = Frame.fromWire(signed(new Uint8Array([1]), k.signer));
      expect(verifyFrame(f, k.publicKey)).toBe(true);
      expect(verifyFrame(f, keys[0] === k ? bob.publicKey : keys[0]!.publicKey)).toBe(false);
    }
  });
});
