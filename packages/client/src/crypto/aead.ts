/**
 * AEADs of the MLS cipher suites: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305
 * (RFC 8439), 16-byte tags appended to the ciphertext as ts-mls and RFC 9180 expect.
 * The ciphers are the platform's (`#platform/aead`: node:crypto in Node, @noble/ciphers
 * elsewhere). Nonces are always given by the caller (MLS derives them from the key
 * schedule, RFC 9420 §6.3.2), so nothing here draws randomness.
 */

import type { AeadAlgorithm } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { type AeadName, aeadOpen, aeadSeal } from "#platform/aead";

export interface SyncAead {
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly id: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

function check(name: string, b: Uint8Array, len: number): void {
  if (b.length !== len) {
    throw new CryptoError(`"${name}" expected Uint8Array of length ${len}, got ${b.length}`);
  }
}

function makeSyncAead(cipher: AeadName, keyLength: number, id: number): SyncAead {
  const nonceLength = 12;
  return {
    keyLength,
    nonceLength,
    id,
    seal(key, nonce, aad, plaintext) {
      check("key", key, keyLength);
      check("nonce", nonce, nonceLength);
      return aeadSeal(cipher, key, nonce, aad, plaintext);
    },
    open(key, nonce, aad, ciphertext) {
      check("key", key, keyLength);
      check("nonce", nonce, nonceLength);
      if (ciphertext.length < 16) throw new CryptoError("ciphertext shorter than the tag");
      const pt = aeadOpen(cipher, key, nonce, aad, ciphertext);
      if (pt === undefined) throw new CryptoError("AEAD authentication failed");
      return pt;
    },
  };
}

/** The AEAD of an MLS suite; `id` is its RFC 9180 aead_id. */
export function makeSyncAeadFor(alg: AeadAlgorithm): SyncAead {
  switch (alg) {
    case "AES128GCM":
      return makeSyncAead("aes-128-gcm", 16, 0x0001);
    case "AES256GCM":
      return makeSyncAead("aes-256-gcm", 32, 0x0002);
    case "CHACHA20POLY1305":
      return makeSyncAead("chacha20-poly1305", 32, 0x0003);
  }
}
