/**
 * Attachment blobs in backups (docs/storage.md "Blobs" and "Backups and erasure"): a backup
 * holds each environment's blob files as they are (sealed per chunk under the blob's own
 * key) and the blob keys among the vault slots it seals under the backup key, so a backup
 * alone holds no blob in a usable form; and a blob journal, the `blob_erase` records of
 * the audit chain, which restore applies like the frame journal: a blob erased at the time
 * of the newest backup a restore is given never gets its key back (rule ★).
 *
 * File `blob-journal.bin`: "KLDRBJN1" ‖ count (u64 BE) ‖ count × (room_id (16) ‖ blob_id
 * (32)), sorted, without repeats. Backups from before attachments have none (nothing to
 * apply).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { copyBytes, roomKey } from "../../keys.js";
import { readU32 } from "../../slotRef.js";
import { BLOBS_DIR } from "../blobs.js";
import type { Tables } from "../layout.js";
import { readAuditRecords } from "../verifyLog.js";
import { decodeKeyJournal, encodeKeyJournal } from "./journal.js";

export const BLOB_JOURNAL_FILE = "blob-journal.bin";
const MAGIC = new TextEncoder().encode("KLDRBJN1");
const ENTRY_BYTES = 48;

/** The `cas` rows of a snapshot: each blob's key (room ‖ blob_id) and vault slot. */
export function blobRows(t: Pick<Tables, "cas">): { key: Uint8Array; slot: number }[] {
  const out: { key: Uint8Array; slot: number }[] = [];
  for (const { key, value } of t.cas.getRange()) {
    if (key.length !== ENTRY_BYTES) continue;
    out.push({ key: copyBytes(key), slot: readU32(value) });
  }
  return out;
}

/** `blobs/<room hex>/<blob hex>`, relative to an environment's directory. */
export function blobFile(key: Uint8Array): string {
  const hex = Buffer.from(key).toString("hex");
  return join(BLOBS_DIR, hex.slice(0, 32), hex.slice(32));
}

/**
 * Copies the files of the snapshot's blobs from the live directory. A file already gone
 * belongs to a blob erased after the snapshot: its erasure record is in the journal read
 * afterwards (T3), and restore drops the blob.
 */
export function copyBlobFiles(src: string, dst: string, keys: readonly Uint8Array[]): void {
  for (const key of keys) {
    const name = blobFile(key);
    if (!existsSync(join(src, name))) continue;
    mkdirSync(join(dst, name, ".."), { recursive: true });
    copyFileSync(join(src, name), join(dst, name));
  }
}

/** Every blob file under `dir/blobs`, relative to `root` (the manifest's names). */
export function blobFilesUnder(root: string, dir: string): string[] {
  const base = join(root, dir, BLOBS_DIR);
  if (!existsSync(base)) return [];
  const out: string[] = [];
  for (const room of readdirSync(base).sort()) {
    const roomDir = join(base, room);
    if (!statSync(roomDir).isDirectory()) continue;
    for (const name of readdirSync(roomDir).sort()) out.push(join(dir, BLOBS_DIR, room, name));
  }
  return out;
}

/** The blobs erased in one environment (room ‖ blob_id), from its `blob_erase` records. */
export function blobErasuresOf(t: Pick<Tables, "audit" | "meta">): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const r of readAuditRecords(t)) {
    if (r.kind !== "blob_erase" || r.roomId === undefined) continue;
    const id = r.detail.blob_id;
    if (typeof id !== "string" || !/^[0-9a-f]{64}$/.test(id)) continue;
    const key = new Uint8Array(ENTRY_BYTES);
    key.set(roomKey(r.roomId), 0);
    key.set(Buffer.from(id, "hex"), 16);
    out.push(key);
  }
  return out;
}

export function encodeBlobJournal(keys: Iterable<Uint8Array>): Uint8Array {
  return encodeKeyJournal(MAGIC, keys);
}

/** BackupError(CORRUPT) when `bytes` is not a blob journal. */
export function decodeBlobJournal(bytes: Uint8Array): Uint8Array[] {
  return decodeKeyJournal(MAGIC, ENTRY_BYTES, bytes, "a blob erasure journal");
}

/** Removes a restored blob's file (its key is not written to the new vault). */
export function removeBlobFile(envDir: string, key: Uint8Array): void {
  rmSync(join(envDir, blobFile(key)), { force: true });
}
