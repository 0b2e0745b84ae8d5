/**
 * X25519 and P-256 Diffie-Hellman on node:crypto (the Node side of `#platform/ecdh`).
 * Keys are imported into OpenSSL once (X25519 KeyObjects through the fast JWK path of
 * okp.ts, P-256 ECDH objects); the handles are opaque to the callers, which cache them
 * next to the raw bytes, so a key used again costs only the DH. Every function throws on
 * an invalid key; crypto/dhkem.ts turns that into a CryptoError.
 */
import { createECDH, diffieHellman, ECDH, type KeyObject } from "node:crypto";
import { okpPrivateKey, okpPublicBytes, okpPublicKey } from "./okp.js";

/** An imported key as the platform holds it; only this module looks inside. */
export type KeyHandle = unknown;

export function x25519PrivateKey(sk: Uint8Array): { publicBytes: Uint8Array; handle: KeyHandle } {
  const handle = okpPrivateKey("X25519", sk);
  return { publicBytes: okpPublicBytes(handle), handle };
}

export function x25519PublicKey(pk: Uint8Array): KeyHandle {
  return okpPublicKey("X25519", pk);
}

/** X25519(sk, pk) (RFC 7748 §6.1); the all-zero check is the caller's. */
export function x25519(sk: KeyHandle, pk: KeyHandle): Uint8Array {
  return Uint8Array.from(
    diffieHellman({ privateKey: sk as KeyObject, publicKey: pk as KeyObject }),
  );
}

/** `sk` must be a 32-byte scalar in [1, n) (checked by the caller). */
export function p256PrivateKey(sk: Uint8Array): { publicBytes: Uint8Array; handle: KeyHandle } {
  const handle = createECDH("prime256v1");
  handle.setPrivateKey(sk);
  return { publicBytes: Uint8Array.from(handle.getPublicKey()), handle };
}

/** An uncompressed SEC1 point (65 bytes, checked by the caller); throws when off the curve. */
export function p256PublicKey(pk: Uint8Array): KeyHandle {
  // Decoding (and re-encoding) the point fails for points not on the curve.
  ECDH.convertKey(pk, "prime256v1", undefined, undefined, "uncompressed");
  return Uint8Array.from(pk);
}

/** The x-coordinate of sk·pk (SEC 1 §3.3.1, as RFC 9180 §7.1.1 uses it). */
export function p256(sk: KeyHandle, pk: KeyHandle): Uint8Array {
  return Uint8Array.from((sk as ECDH).computeSecret(pk as Uint8Array));
}
