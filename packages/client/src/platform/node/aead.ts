/**
 * The AEADs of the MLS cipher suites on node:crypto (the Node side of `#platform/aead`):
 * AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 (RFC 8439), the 16-byte tag appended.
 * Lengths are checked by the caller (crypto/aead.ts).
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export type AeadName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
const TAG = 16;

// The cast to one GCM name in the calls below only picks the typed overload: OpenSSL's
// chacha20-poly1305 has the same AEAD surface (setAAD, setAuthTag, getAuthTag).
export function aeadSeal(
  name: AeadName,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const c = createCipheriv(name as "aes-128-gcm", key, nonce, { authTagLength: TAG });
  if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  const tail = c.final();
  const tag = c.getAuthTag();
  const out = new Uint8Array(body.length + tail.length + TAG);
  out.set(body, 0);
  out.set(tail, body.length);
  out.set(tag, body.length + tail.length);
  return out;
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
  const bodyLen = ciphertext.length - TAG;
  const d = createDecipheriv(name as "aes-128-gcm", key, nonce, { authTagLength: TAG });
  d.setAuthTag(ciphertext.subarray(bodyLen));
  if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
  const body = d.update(ciphertext.subarray(0, bodyLen));
  let tail: Uint8Array;
  try {
    tail = d.final();
  } catch {
    body.fill(0);
    return undefined;
  }
  const out = new Uint8Array(body.length + tail.length);
  out.set(body, 0);
  out.set(tail, body.length);
  body.fill(0);
  return out;
}
