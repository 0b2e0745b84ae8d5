/**
 * The platform-independent part of Ed25519: the signer interface, the RFC 8410 DER
 * prefixes and the key-length check. The signing and verification themselves are the
 * platform's (`#platform/ed25519`: node:crypto in Node, @noble/curves elsewhere).
 */

/** Something that signs with an Ed25519 key; the private key never leaves it. */
export interface DeviceSigner {
  /** The 32-byte Ed25519 public key (also the MLS leaf signature key). */
  readonly publicKey: Uint8Array;
  /** A 64-byte Ed25519 signature over `data`. */
  sign(data: Uint8Array): Uint8Array;
}

/** RFC 8410 PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
export const ED25519_PKCS8_PREFIX: Uint8Array = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
/** RFC 8410 SPKI DER prefix of an Ed25519 public key; the 32 key bytes follow. */
export const ED25519_SPKI_PREFIX: Uint8Array = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

/** @internal Throws a labelled TypeError unless `key` is 32 bytes. */
export function checkKey(name: string, key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError(`"${name}" expected Uint8Array of length 32`);
  }
}

/**
 * Imported public keys kept per process, most recently used last. Bounded, so a flood of
 * distinct keys costs O(1) memory; large enough for the hub's view of big groups.
 */
export const KEY_CACHE_MAX = 16_384;
