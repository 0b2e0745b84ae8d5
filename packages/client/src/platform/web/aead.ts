/**
 * The AEADs of the MLS cipher suites on @noble/ciphers (the browser and default side of
 * `#platform/aead`), synchronous: ts-mls's interface is Promise-shaped, but MLS encrypts
 * small messages where a WebCrypto round trip costs more than the cipher.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

export type AeadName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
const TAG = 16;

const cipherOf = (name: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) =>
  name === "chacha20-poly1305" ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);

export function aeadSeal(
  name: AeadName,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return cipherOf(name, key, nonce, aad).encrypt(plaintext);
}

/** The plaintext, or `undefined` when the tag does not verify (or is missing). */
export function aeadOpen(
  name: AeadName,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | undefined {
  if (ciphertext.length < TAG) return undefined;
  try {
    return cipherOf(name, key, nonce, aad).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}
