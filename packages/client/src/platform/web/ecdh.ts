/**
 * X25519 and P-256 Diffie-Hellman on @noble/curves (the browser and default side of
 * `#platform/ecdh`), synchronous. A handle is the raw key itself. Every function throws
 * on an invalid key; crypto/dhkem.ts turns that into a CryptoError.
 */
import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { p256 as nobleP256 } from "@noble/curves/nist.js";

/** An imported key as the platform holds it; only this module looks inside. */
export type KeyHandle = unknown;

export function x25519PrivateKey(sk: Uint8Array): { publicBytes: Uint8Array; handle: KeyHandle } {
  const handle = Uint8Array.from(sk);
  return { publicBytes: nobleX25519.getPublicKey(handle), handle };
}

export function x25519PublicKey(pk: Uint8Array): KeyHandle {
  if (pk.length !== 32) throw new RangeError("X25519 public key must be 32 bytes");
  return Uint8Array.from(pk);
}

/** X25519(sk, pk) (RFC 7748 §6.1); noble itself refuses the all-zero result. */
export function x25519(sk: KeyHandle, pk: KeyHandle): Uint8Array {
  return nobleX25519.getSharedSecret(sk as Uint8Array, pk as Uint8Array);
}

/** `sk` must be a 32-byte scalar in [1, n) (checked by the caller). */
export function p256PrivateKey(sk: Uint8Array): { publicBytes: Uint8Array; handle: KeyHandle } {
  const handle = Uint8Array.from(sk);
  return { publicBytes: nobleP256.getPublicKey(handle, false), handle };
}

/** An uncompressed SEC1 point (65 bytes, checked by the caller); throws when off the curve. */
export function p256PublicKey(pk: Uint8Array): KeyHandle {
  nobleP256.Point.fromBytes(pk).assertValidity();
  return Uint8Array.from(pk);
}

/** The x-coordinate of sk·pk (SEC 1 §3.3.1, as RFC 9180 §7.1.1 uses it). */
export function p256(sk: KeyHandle, pk: KeyHandle): Uint8Array {
  return nobleP256.getSharedSecret(sk as Uint8Array, pk as Uint8Array, true).subarray(1);
}
