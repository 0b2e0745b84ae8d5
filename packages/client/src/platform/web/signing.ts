/**
 * MLS signing keys on @noble/curves (the browser and default side of `#platform/signing`),
 * synchronous. A handle is the raw key; every import throws on a bad key.
 */
import { ED25519_PKCS8_PREFIX } from "@kalandra/proto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";

/** An imported key as the platform holds it; only this module looks inside. */
export type KeyHandle = unknown;

/** An Ed25519 signing key from a raw 32-byte seed or a PKCS#8 DER document (RFC 8410). */
export function ed25519SigningKey(signKey: Uint8Array): KeyHandle {
  if (signKey.length === 32) return Uint8Array.from(signKey);
  const n = ED25519_PKCS8_PREFIX.length;
  if (signKey.length !== n + 32 || ED25519_PKCS8_PREFIX.some((b, i) => signKey[i] !== b)) {
    throw new Error("not an Ed25519 seed or PKCS#8 document");
  }
  return signKey.slice(n);
}

export function ed25519Sign(key: KeyHandle, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, key as Uint8Array);
}

/** A P-256 verification key from a 33- or 65-byte SEC1 point. */
export function p256VerifyingKey(pk: Uint8Array): KeyHandle {
  if (pk.length !== 65 && pk.length !== 33) {
    throw new Error("P-256 public key must be a 33- or 65-byte point");
  }
  p256.Point.fromBytes(pk).assertValidity();
  return Uint8Array.from(pk);
}

/** ECDSA-SHA256 verification of a DER signature; false (never a throw) when malformed. */
export function p256Verify(key: KeyHandle, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return p256.verify(signature, message, key as Uint8Array, {
      prehash: true,
      format: "der",
      lowS: false,
    });
  } catch {
    return false;
  }
}
