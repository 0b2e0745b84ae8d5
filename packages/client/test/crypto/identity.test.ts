import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { ED25519_PKCS8_PREFIX, ED25519_SPKI_PREFIX } from "@kalandra/proto";
import { ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { defaultLifetime, generateKeyPackageWithKey } from "ts-mls";
import { describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl, mlsSignatureKeysFromSeed } from "../../src/crypto/index.js";
import { fixedCapabilities } from "./mlsFixtures.js";
import { bothImpls, fcSeed } from "./providers.js";

describe("mlsSignatureKeysFromSeed", () => {
  it("derives the RFC 8032 public key (as noble does) and signs identically in both providers", async () => {
    const { ours, theirs } = await bothImpls("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array(),
        async (seed, msg) => {
          const keys = mlsSignatureKeysFromSeed(seed);
          expect(keys.publicKey).toEqual(ed25519.getPublicKey(seed));
          const sig = await ours.signature.sign(keys.signKey, msg);
          expect(sig).toEqual(ed25519.sign(msg, seed));
          expect(await theirs.signature.sign(keys.signKey, msg)).toEqual(sig);
          expect(await theirs.signature.verify(keys.publicKey, msg, sig)).toBe(true);
        },
      ),
      { numRuns: 50, seed: fcSeed("identity") },
    );
  });

  it("RFC 8032 §7.1 test 1", () => {
    const seed = Buffer.from(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "hex",
    );
    const keys = mlsSignatureKeysFromSeed(seed);
    expect(Buffer.from(keys.publicKey).toString("hex")).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
  });

  it("copies the seed and rejects anything but 32 bytes", () => {
    const seed = new Uint8Array(32).fill(7);
    const keys = mlsSignatureKeysFromSeed(seed);
    seed.fill(0);
    expect(keys.signKey).toEqual(new Uint8Array(32).fill(7));
    expect(() => mlsSignatureKeysFromSeed(new Uint8Array(31))).toThrow(RangeError);
    expect(() => mlsSignatureKeysFromSeed(new Uint8Array(64))).toThrow(RangeError);
  });

  it("a key package made from a device seed carries the device key as leaf signature key", async () => {
    const cs = getKalandraCiphersuiteImpl();
    const seed = createHash("sha256").update("device").digest();
    const keys = mlsSignatureKeysFromSeed(seed);
    const kp = await generateKeyPackageWithKey(
      { credentialType: "basic", identity: new TextEncoder().encode("alice") },
      fixedCapabilities,
      defaultLifetime,
      [],
      keys,
      cs,
    );
    expect(kp.publicPackage.leafNode.signaturePublicKey).toEqual(keys.publicKey);
    expect(kp.privatePackage.signaturePrivateKey).toEqual(new Uint8Array(seed));
    // The node:crypto view of the same seed agrees.
    const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
    const spki = createPublicKey(
      createPrivateKey({ key: der, format: "der", type: "pkcs8" }),
    ).export({
      format: "der",
      type: "spki",
    });
    expect(new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length))).toEqual(keys.publicKey);
  });
});
