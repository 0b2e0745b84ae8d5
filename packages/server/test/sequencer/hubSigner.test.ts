import { createPublicKey, verify as edVerify } from "node:crypto";
import { ED25519_SPKI_PREFIX, encodeFrame, Frame, Opcode, verifyFrame } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { createHubSigner } from "../../src/runtime/node/shards/hubSigner.js";
import { isAsyncSigner, signFrameInPlace } from "../../src/sequencer/frameSigner.js";

const SEED = new Uint8Array(32).fill(9);

function spki(pub: Uint8Array) {
  // Imported by node:crypto directly, so the check does not rest on proto's key cache.
  const der = Buffer.concat([ED25519_SPKI_PREFIX, pub]);
  return createPublicKey({ key: der, format: "der", type: "spki" });
}

describe("createHubSigner", () => {
  it("signs off-thread with the same bytes as the synchronous path, in order, across chunks", async () => {
    const signer = createHubSigner(SEED);
    try {
      expect(isAsyncSigner(signer)).toBe(true);
      const messages = Array.from({ length: 150 }, (_, i) => new TextEncoder().encode(`ack ${i}`));
      const sigs = await Promise.all(
        messages.map(
          (m) =>
            new Promise<Uint8Array>((resolve, reject) =>
              signer.signAsync(m, (err, sig) => (err ? reject(err) : resolve(sig!))),
            ),
        ),
      );
      const key = spki(signer.publicKey);
      messages.forEach((m, i) => {
        expect(Buffer.from(sigs[i]!)).toEqual(Buffer.from(signer.sign(m)));
        expect(edVerify(null, m, key, sigs[i]!)).toBe(true);
      });
    } finally {
      await signer.close();
    }
  });

  it("fails requests after close instead of hanging, and checks the seed length", async () => {
    const signer = createHubSigner(SEED);
    await signer.close();
    const err = await new Promise<Error | null>((resolve) =>
      signer.signAsync(new Uint8Array([1]), (e) => resolve(e)),
    );
    expect(err?.message).toMatch(/closed/);
    expect(() => createHubSigner(new Uint8Array(31))).toThrow(TypeError);
  });

  it("signFrameInPlace yields a frame that verifies under the hub key, sync or async", async () => {
    const asyncSigner = createHubSigner(SEED);
    try {
      const fields = {
        opcode: Opcode.ACK,
        requestId: 7,
        roomId: 1n,
        senderId: 0n,
        epoch: 0n,
        payload: new Uint8Array([0xa0]),
      };
      for (const signer of [
        asyncSigner,
        { publicKey: asyncSigner.publicKey, sign: asyncSigner.sign },
      ]) {
        const bytes = encodeFrame(fields);
        await new Promise<void>((resolve) => signFrameInPlace(signer, bytes, resolve));
        expect(verifyFrame(Frame.fromWire(bytes), asyncSigner.publicKey)).toBe(true);
      }
    } finally {
      await asyncSigner.close();
    }
  });
});
