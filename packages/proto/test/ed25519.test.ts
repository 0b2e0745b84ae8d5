import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createDeviceSigner,
  ED25519_PKCS8_PREFIX,
  ED25519_SPKI_PREFIX,
  ed25519PublicKey,
  ed25519Verify,
  ed25519VerifyAsync,
} from "../src/ed25519.js";
import {
  ed25519KeySigner,
  ed25519PrivateKeyObject,
  ed25519PublicKeyObject,
  ed25519RawPublicKey,
  ed25519SeedOf,
} from "../src/node/keyObjects.js";
import { fcParams, hex } from "./helpers.js";

// RFC 8032 §7.1, TEST 2 (one-byte message 0x72).
const SEED = Buffer.from("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "hex");
const PUB = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const MSG = Uint8Array.of(0x72);
const SIG =
  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

const verifyAsync = (pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> =>
  new Promise((resolve) => ed25519VerifyAsync(pub, msg, sig, resolve));

describe("ed25519 (proto's one Ed25519 module)", () => {
  it("matches RFC 8032 §7.1 test 2: public key, signature, verification", async () => {
    expect(hex(ed25519PublicKey(new Uint8Array(SEED)))).toBe(PUB);
    const s = createDeviceSigner(new Uint8Array(SEED));
    expect(hex(s.publicKey)).toBe(PUB);
    expect(hex(s.sign(MSG))).toBe(SIG);
    const sig = new Uint8Array(Buffer.from(SIG, "hex"));
    expect(ed25519Verify(s.publicKey, MSG, sig)).toBe(true);
    expect(await verifyAsync(s.publicKey, MSG, sig)).toBe(true);
    expect(ed25519Verify(s.publicKey, Uint8Array.of(0x73), sig)).toBe(false);
    expect(await verifyAsync(s.publicKey, Uint8Array.of(0x73), sig)).toBe(false);
  });

  it("has the RFC 8410 DER prefixes node:crypto uses", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
    const spki = publicKey.export({ format: "der", type: "spki" });
    expect(hex(pkcs8.subarray(0, 16))).toBe(hex(ED25519_PKCS8_PREFIX));
    expect(hex(spki.subarray(0, 12))).toBe(hex(ED25519_SPKI_PREFIX));
  });

  it("interoperates with node:crypto KeyObjects (the ./node entry)", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const seed = ed25519SeedOf(privateKey);
    const raw = ed25519RawPublicKey(publicKey);
    expect(hex(ed25519RawPublicKey(privateKey))).toBe(hex(raw));
    expect(hex(createDeviceSigner(seed).publicKey)).toBe(hex(raw));
    const again = ed25519PrivateKeyObject(seed);
    expect(again.equals(privateKey)).toBe(true);
    expect(ed25519PublicKeyObject(raw)?.equals(publicKey)).toBe(true);
    const signer = ed25519KeySigner(privateKey);
    const msg = Uint8Array.of(1, 2, 3);
    expect(hex(signer.sign(msg))).toBe(hex(sign(null, msg, privateKey)));
    expect(ed25519Verify(raw, msg, signer.sign(msg))).toBe(true);
    // Keys of another type are refused, not misread.
    const x = generateKeyPairSync("x25519");
    expect(() => ed25519RawPublicKey(x.publicKey)).toThrow(TypeError);
    expect(() => ed25519SeedOf(x.privateKey)).toThrow(TypeError);
    expect(() => ed25519SeedOf(publicKey)).toThrow(TypeError);
    expect(
      createPublicKey(createPrivateKey(privateKey.export({ format: "pem", type: "pkcs8" }))),
    ).toBeDefined();
  });

  it("labels bad seeds", () => {
    expect(() => createDeviceSigner(new Uint8Array(31))).toThrow(/"privateKeySeed32" expected/);
    expect(() => ed25519PublicKey(new Uint8Array(33))).toThrow(/"seed" expected/);
  });

  it("property: hostile keys and signatures give false, never a throw (sync and async)", async () => {
    const s = createDeviceSigner(new Uint8Array(SEED));
    const good = s.sign(MSG);
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        fc.uint8Array({ minLength: 0, maxLength: 70 }),
        async (key, sig) => {
          fc.pre(!(hex(key) === PUB && hex(sig) === hex(good)));
          expect(ed25519Verify(key, MSG, sig)).toBe(false);
          expect(await verifyAsync(key, MSG, sig)).toBe(false);
        },
      ),
      fcParams(200),
    );
  });
});
