/**
 * Sealing what a backup must not hold in clear (docs/storage.md "Backups and erasure"):
 * the payload keys of a data directory and the hub's private key, under the backup's own
 * fresh 32-byte key, and that key itself wrapped under the operator's backup key file.
 * ChaCha20-Poly1305 (RFC 8439, node:crypto), as storage/seal.ts uses for payloads.
 *
 * Keys are sealed in chunks of KEY_CHUNK_SLOTS slots (1 MiB) rather than one AEAD per key:
 * a million keys cost a few dozen cipher set-ups instead of a million. Nonce safety: the
 * backup key is fresh per backup and each (stream, chunk) pair is sealed once under it, so
 * the nonce `stream (u32) ‖ chunk (u64)` never repeats for a key. The associated data binds
 * each chunk to its backup, stream and position, so chunks cannot be moved or swapped.
 */
import { randomBytes } from "node:crypto";
import { StorageError } from "../../errors.js";
import { openAead, sealAead } from "../../seal.js";
import { BackupError } from "./errors.js";

/** Vault slots per sealed chunk of `keys.sealed` (32 bytes each: 1 MiB of plaintext). */
export const KEY_CHUNK_SLOTS = 32768;
export const TAG_BYTES = 16;
/** The stream number of the hub key (environments are 0, 1, …). */
export const HUB_KEY_STREAM = 0xffffffff;

const CHUNK_LABEL = new TextEncoder().encode("kalandra-backup-chunk-v1");
const WRAP_LABEL = new TextEncoder().encode("kalandra-backup-key-v1");

function chunkNonce(stream: number, chunk: number): Uint8Array {
  const n = new Uint8Array(12);
  const v = new DataView(n.buffer);
  v.setUint32(0, stream, false);
  v.setBigUint64(4, BigInt(chunk), false);
  return n;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `openAead` with the failure named for the backup (BackupError CORRUPT). */
function open(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: Uint8Array,
  what: string,
): Uint8Array {
  try {
    return openAead(key, nonce, ad, sealed);
  } catch (err) {
    if (err instanceof StorageError)
      throw new BackupError("CORRUPT", `${what} does not authenticate`);
    throw err;
  }
}

function chunkAd(backupId: Uint8Array, stream: number, chunk: number): Uint8Array {
  return concat(CHUNK_LABEL, backupId, chunkNonce(stream, chunk));
}

/** Seals chunk `chunk` of stream `stream` (an environment's keys, or the hub key). */
export function sealChunk(
  backupKey: Uint8Array,
  backupId: Uint8Array,
  stream: number,
  chunk: number,
  plaintext: Uint8Array,
): Uint8Array {
  return sealAead(
    backupKey,
    chunkNonce(stream, chunk),
    chunkAd(backupId, stream, chunk),
    plaintext,
  );
}

/** Opens a sealed chunk; BackupError(CORRUPT) when it was altered, moved or is of another backup. */
export function openChunk(
  backupKey: Uint8Array,
  backupId: Uint8Array,
  stream: number,
  chunk: number,
  sealed: Uint8Array,
): Uint8Array {
  return open(
    backupKey,
    chunkNonce(stream, chunk),
    chunkAd(backupId, stream, chunk),
    sealed,
    `sealed chunk ${chunk} of stream ${stream}`,
  );
}

/** The backup key wrapped under the key file's key: nonce (12) ‖ ciphertext ‖ tag, hex. */
export function wrapBackupKey(master: Uint8Array, backupId: Uint8Array, key: Uint8Array): string {
  const nonce = new Uint8Array(randomBytes(12));
  const sealed = sealAead(master, nonce, concat(WRAP_LABEL, backupId), key);
  return Buffer.from(concat(nonce, sealed)).toString("hex");
}

export function unwrapBackupKey(master: Uint8Array, backupId: Uint8Array, hex: string): Uint8Array {
  const bytes = Uint8Array.from(Buffer.from(hex, "hex"));
  if (bytes.length !== 12 + 32 + TAG_BYTES) {
    throw new BackupError("CORRUPT", "the wrapped backup key has the wrong length");
  }
  return open(
    master,
    bytes.subarray(0, 12),
    concat(WRAP_LABEL, backupId),
    bytes.subarray(12),
    "the wrapped backup key",
  );
}
