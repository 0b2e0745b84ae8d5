/**
 * Attachments travel out of band, addressed by content hash (docs/client.md "Envelope"):
 *
 *   key  = 32 random bytes, fresh per attachment
 *   blob = XChaCha20-Poly1305(key, nonce = 24 zero bytes, AD = "kalandra/attachment/v1")
 *            .seal(content)          — a zero nonce is safe because each key seals once
 *   hash = BLAKE3-256(blob)          — the address in the hub's `cas` table (DESIGN §5)
 *
 * The envelope carries {hash, size, mime, name?, key}; a recipient fetches the blob by
 * hash, checks the hash, then opens it with the key.
 */

import type { Rng } from "@kalandra/proto";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { EnvelopeError } from "./errors.js";
import { CONTENT_KEY_BYTES, HASH_BYTES } from "./types.js";

const AD = new TextEncoder().encode("kalandra/attachment/v1");
const ZERO_NONCE = new Uint8Array(24);

export interface SealedAttachment {
  readonly blob: Uint8Array;
  readonly hash: Uint8Array;
  readonly key: Uint8Array;
  readonly size: number;
}

export function contentHash(blob: Uint8Array): Uint8Array {
  return blake3(blob, { dkLen: HASH_BYTES });
}

export function sealAttachment(content: Uint8Array, rng: Rng): SealedAttachment {
  const key = rng.bytes(CONTENT_KEY_BYTES);
  const blob = xchacha20poly1305(key, ZERO_NONCE, AD).encrypt(content);
  return { blob, hash: contentHash(blob), key, size: content.length };
}

/** Verifies `blob` against `hash` and opens it with `key`. */
export function openAttachment(
  blob: Uint8Array,
  ref: { hash: Uint8Array; key: Uint8Array },
): Uint8Array {
  const actual = contentHash(blob);
  let diff = actual.length ^ ref.hash.length;
  for (let i = 0; i < actual.length; i++) diff |= (actual[i] as number) ^ (ref.hash[i] ?? 0);
  if (diff !== 0)
    throw new EnvelopeError("ATTACHMENT_HASH_MISMATCH", "blob does not match its hash", "hash");
  if (ref.key.length !== CONTENT_KEY_BYTES) {
    throw new EnvelopeError("INVALID_FIELD", `"key" expected ${CONTENT_KEY_BYTES} bytes`, "key");
  }
  try {
    return xchacha20poly1305(ref.key, ZERO_NONCE, AD).decrypt(blob);
  } catch {
    throw new EnvelopeError("ATTACHMENT_DECRYPT_FAILED", "blob does not open with its key", "key");
  }
}
