/**
 * MLS signing keys on node:crypto (the Node side of `#platform/signing`): Ed25519 with
 * OpenSSL (verification through proto's cached keys), ECDSA P-256 verification with
 * OpenSSL. Imported keys are opaque handles
 * the caller caches (crypto/signature.ts); every import throws on a bad key.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { concatBytes, ed25519Verify as verifyRaw } from "@kalandra/proto";
import { okpPrivateKey } from "./okp.js";

/** An imported key as the platform holds it; only this module looks inside. */
export type KeyHandle = unknown;

/** An Ed25519 signing key from a raw 32-byte seed or a PKCS#8 DER document. */
export function ed25519SigningKey(signKey: Uint8Array): KeyHandle {
  const ko =
    signKey.length === 32
      ? okpPrivateKey("Ed25519", signKey)
      : createPrivateKey({ key: Buffer.from(signKey), format: "der", type: "pkcs8" });
  if (ko.asymmetricKeyType !== "ed25519") throw new Error(`got ${ko.asymmetricKeyType}`);
  return ko;
}

/** Synchronous underneath (OpenSSL); Promise-shaped like the browsers' WebCrypto. */
export function ed25519Sign(key: KeyHandle, message: Uint8Array): Promise<Uint8Array> {
  return Promise.resolve(Uint8Array.from(sign(null, message, key as KeyObject)));
}

/** An Ed25519 verification key from its 32 bytes (proto keeps the OpenSSL key cache). */
export function ed25519VerifyingKey(publicKey: Uint8Array): KeyHandle {
  if (publicKey.length !== 32) throw new Error("Ed25519 public key must be 32 bytes");
  return Uint8Array.from(publicKey);
}

/** RFC 8032 verification, synchronous underneath; false for anything that does not verify. */
export function ed25519Verify(
  key: KeyHandle,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return Promise.resolve(verifyRaw(key as Uint8Array, message, signature));
}

// RFC 5480 SPKI DER prefixes of a P-256 point (uncompressed, compressed); the point follows.
const P256_SPKI_UNCOMPRESSED = Uint8Array.from(
  Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"),
);
const P256_SPKI_COMPRESSED = Uint8Array.from(
  Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex"),
);

/** A P-256 verification key from a 33- or 65-byte SEC1 point. */
export function p256VerifyingKey(pk: Uint8Array): KeyHandle {
  const prefix =
    pk.length === 65 ? P256_SPKI_UNCOMPRESSED : pk.length === 33 ? P256_SPKI_COMPRESSED : null;
  if (prefix === null) throw new Error("P-256 public key must be a 33- or 65-byte point");
  return createPublicKey({
    key: Buffer.from(concatBytes(prefix, pk)),
    format: "der",
    type: "spki",
  });
}

/** ECDSA-SHA256 verification of a DER signature; false (never a throw) when malformed. */
export function p256Verify(key: KeyHandle, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify("sha256", message, { key: key as KeyObject, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}
