/**
 * The three primitives the sender-key ratchet needs, on the platform's HMAC and AEAD
 * (`#platform/hash`, `#platform/aead`): node:crypto in Node for speed (issue 4 asks the
 * bridge to be ≥ 50× faster than an MLS PrivateMessage; @noble's pure-JS HMAC alone
 * costs ~13 µs per call here, node:crypto's ~2 µs), @noble in browsers.
 *
 * - HMAC-SHA256 (RFC 2104), HKDF-SHA256 (RFC 5869) built on it;
 * - XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2.3): the subkey is HChaCha20(key,
 *   nonce[0..16]) computed with @noble/ciphers' `hchacha`, then the IETF
 *   ChaCha20-Poly1305 AEAD (RFC 8439) with nonce 0x00000000 ‖ nonce[16..24].
 *
 * test/senderkeys/primitives.test.ts checks every function against @noble/hashes'
 * `hkdf`/`hmac` and @noble/ciphers' `xchacha20poly1305` on random inputs.
 * Every returned array is a fresh Uint8Array owned by the caller.
 */

import { hchacha } from "@noble/ciphers/chacha.js";
import { aeadOpen, aeadSeal } from "#platform/aead";
import { hmac } from "#platform/hash";

// "expand 32-byte k" as little-endian u32 words (RFC 8439 §2.3).
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

const HASH_LEN = 32;
const ZERO_SALT = new Uint8Array(HASH_LEN);

/** HKDF-Extract (RFC 5869 §2.2); an empty salt means HashLen zero bytes. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt.length === 0 ? ZERO_SALT : salt, ikm);
}

/** HKDF-Expand (RFC 5869 §2.3). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN) {
    throw new RangeError(`"length" expected an integer in [0, ${255 * HASH_LEN}]`);
  }
  const out = new Uint8Array(length);
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++) {
    const input = new Uint8Array(prev.length + info.length + 1);
    input.set(prev, 0);
    input.set(info, prev.length);
    input[input.length - 1] = i;
    prev.fill(0);
    prev = hmacSha256(prk, input);
    input.fill(0);
    out.set(prev.subarray(0, Math.min(HASH_LEN, length - o)), o);
    o += HASH_LEN;
  }
  prev.fill(0);
  return out;
}

/**
 * HKDF-SHA256 built from HMAC calls: node's `hkdfSync` costs several times more for one
 * 32-byte output because it builds key objects.
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const prk = hkdfExtract(salt, ikm);
  try {
    return hkdfExpand(prk, info, length);
  } finally {
    prk.fill(0);
  }
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac("sha256", key, data);
}

// Scratch words for HChaCha20, reused across calls (single-threaded) and wiped after each.
const K32 = new Uint32Array(8);
const N32 = new Uint32Array(4);
const O32 = new Uint32Array(8);

const le32 = (b: Uint8Array, i: number): number =>
  (b[i] as number) |
  ((b[i + 1] as number) << 8) |
  ((b[i + 2] as number) << 16) |
  ((b[i + 3] as number) << 24);

/** HChaCha20(key, nonce[0..16]) → 32-byte subkey (draft-irtf-cfrg-xchacha-03 §2.2). */
function subkey(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  for (let i = 0; i < 8; i++) K32[i] = le32(key, 4 * i);
  for (let i = 0; i < 4; i++) N32[i] = le32(nonce, 4 * i);
  hchacha(SIGMA, K32, N32, O32);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const w = O32[i] as number;
    out[4 * i] = w;
    out[4 * i + 1] = w >>> 8;
    out[4 * i + 2] = w >>> 16;
    out[4 * i + 3] = w >>> 24;
  }
  K32.fill(0);
  O32.fill(0);
  return out;
}

function ietfNonce(nonce: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(nonce.subarray(16, 24), 4);
  return n;
}

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32) throw new RangeError(`"key" expected Uint8Array of length 32`);
  if (nonce.length !== 24) throw new RangeError(`"nonce" expected Uint8Array of length 24`);
}

/** XChaCha20-Poly1305 seal: ciphertext ‖ 16-byte tag. */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkKeyNonce(key, nonce);
  const sk = subkey(key, nonce);
  try {
    return aeadSeal("chacha20-poly1305", sk, ietfNonce(nonce), ad, plaintext);
  } finally {
    sk.fill(0);
  }
}

/** XChaCha20-Poly1305 open; `undefined` when the tag does not verify. */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | undefined {
  checkKeyNonce(key, nonce);
  const sk = subkey(key, nonce);
  try {
    return aeadOpen("chacha20-poly1305", sk, ietfNonce(nonce), ad, ciphertext);
  } finally {
    sk.fill(0);
  }
}
