/**
 * AEADs of the MLS cipher suites on node:crypto: AES-128-GCM, AES-256-GCM and
 * ChaCha20-Poly1305 (RFC 8439), 16-byte tags appended to the ciphertext as ts-mls and
 * RFC 9180 expect. Nonces are always given by the caller (MLS derives them from the key
 * schedule, RFC 9420 §6.3.2), so nothing here draws randomness.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import type { AeadAlgorithm } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";

// The cast to one GCM name in the calls below only picks the typed overload: OpenSSL's
// chacha20-poly1305 has the same AEAD surface (setAAD, setAuthTag, getAuthTag).
type CipherName = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
const TAG = 16;

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

function makeSyncAead(cipher: CipherName, keyLength: number, id: number): SyncAead {
  const nonceLength = 12;
  return {
    keyLength,
    nonceLength,
    id,
    seal(key, nonce, aad, plaintext) {
      check("key", key, keyLength);
      check("nonce", nonce, nonceLength);
      const c = createCipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: TAG });
      if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      const tail = c.final();
      const tag = c.getAuthTag();
      const out = new Uint8Array(body.length + tail.length + TAG);
      out.set(body, 0);
      out.set(tail, body.length);
      out.set(tag, body.length + tail.length);
      return out;
    },
    open(key, nonce, aad, ciphertext) {
      check("key", key, keyLength);
      check("nonce", nonce, nonceLength);
      if (ciphertext.length < TAG) throw new CryptoError("ciphertext shorter than the tag");
      const bodyLen = ciphertext.length - TAG;
      const d = createDecipheriv(cipher as "aes-128-gcm", key, nonce, { authTagLength: TAG });
      d.setAuthTag(ciphertext.subarray(bodyLen));
      if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
      const body = d.update(ciphertext.subarray(0, bodyLen));
      let tail: Uint8Array;
      try {
        tail = d.final();
      } catch {
        throw new CryptoError("AEAD authentication failed");
      }
      const out = new Uint8Array(body.length + tail.length);
      out.set(body, 0);
      out.set(tail, body.length);
      return out;
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
