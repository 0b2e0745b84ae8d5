/**
 * `keys.sealed`, one per environment of a backup: the payload keys of the snapshot's live
 * frames, read from the live vault and sealed in chunks of KEY_CHUNK_SLOTS slots under the
 * backup key (sealing.ts). Slot N of the vault is slot N here, so the LMDB copy's key
 * references stay valid; every slot the snapshot does not reference as live is zero.
 * Plaintext keys exist only in one chunk's buffer at a time, zeroed after use.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { SLOT_BYTES, VAULT_HEADER_BYTES } from "../vault.js";
import { BackupError } from "./errors.js";
import { KEY_CHUNK_SLOTS, openChunk, sealChunk, TAG_BYTES } from "./sealing.js";

export const SEALED_KEYS_FILE = "keys.sealed";

export interface ChunkSealing {
  backupKey: Uint8Array;
  id: Uint8Array;
  stream: number;
}

/** The size of `keys.sealed` for `slots` vault slots. */
export function sealedKeysBytes(slots: number): number {
  const chunks = Math.ceil(slots / KEY_CHUNK_SLOTS);
  return slots * SLOT_BYTES + chunks * TAG_BYTES;
}

/** Reads the first `hwm` slots of the live vault, keeps the live ones, writes them sealed. */
export function sealVault(
  vaultPath: string,
  outPath: string,
  hwm: number,
  liveSlots: Uint8Array,
  s: ChunkSealing,
): void {
  const out = openSync(outPath, "wx");
  try {
    if (hwm === 0) return;
    const fd = openSync(vaultPath, "r");
    const buf = new Uint8Array(KEY_CHUNK_SLOTS * SLOT_BYTES);
    try {
      if (fstatSync(fd).size < VAULT_HEADER_BYTES + hwm * SLOT_BYTES) {
        throw new BackupError("CORRUPT", `${vaultPath} is shorter than its ${hwm} slots`);
      }
      for (let chunk = 0; chunk * KEY_CHUNK_SLOTS < hwm; chunk++) {
        const first = chunk * KEY_CHUNK_SLOTS;
        const n = Math.min(KEY_CHUNK_SLOTS, hwm - first);
        const keys = buf.subarray(0, n * SLOT_BYTES);
        const got = readSync(fd, keys, 0, keys.length, VAULT_HEADER_BYTES + first * SLOT_BYTES);
        if (got !== keys.length) throw new BackupError("CORRUPT", `${vaultPath}: short read`);
        for (let i = 0; i < n; i++) {
          if (liveSlots[first + i] !== 1) keys.fill(0, i * SLOT_BYTES, (i + 1) * SLOT_BYTES);
        }
        writeSync(out, sealChunk(s.backupKey, s.id, s.stream, chunk, keys));
      }
    } finally {
      buf.fill(0);
      closeSync(fd);
    }
  } finally {
    closeSync(out);
  }
}

/**
 * Opens every chunk of `path` (`slots` vault slots) in order and hands `fn` its first slot
 * and its keys (32 bytes per slot). The buffer is zeroed when `fn` returns; copy to keep.
 */
export function forEachKeyChunk(
  path: string,
  slots: number,
  s: ChunkSealing,
  fn: (first: number, keys: Uint8Array) => void,
): void {
  const fd = openSync(path, "r");
  try {
    if (fstatSync(fd).size !== sealedKeysBytes(slots)) {
      throw new BackupError("CORRUPT", `${path} does not hold ${slots} sealed slots`);
    }
    const buf = new Uint8Array(KEY_CHUNK_SLOTS * SLOT_BYTES + TAG_BYTES);
    let at = 0;
    for (let chunk = 0; chunk * KEY_CHUNK_SLOTS < slots; chunk++) {
      const first = chunk * KEY_CHUNK_SLOTS;
      const n = Math.min(KEY_CHUNK_SLOTS, slots - first);
      const sealed = buf.subarray(0, n * SLOT_BYTES + TAG_BYTES);
      if (readSync(fd, sealed, 0, sealed.length, at) !== sealed.length) {
        throw new BackupError("CORRUPT", `${path}: short read`);
      }
      at += sealed.length;
      const keys = openChunk(s.backupKey, s.id, s.stream, chunk, sealed);
      try {
        fn(first, keys);
      } finally {
        keys.fill(0);
      }
    }
  } finally {
    closeSync(fd);
  }
}
