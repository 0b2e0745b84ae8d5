/**
 * The erasure journal (docs/storage.md "Backups and erasure"): the frames whose payload key
 * a data directory has destroyed, carried by every backup and applied on restore, so that
 * restoring an older backup does not bring back what a newer one knows to be erased.
 *
 * Its source is the audit chain: every erasure — redaction, retention, room deletion —
 * goes through the vault's erase path (erasure.ts), which appends a `secure_delete` record
 * in the same LMDB transaction that marks the key erased. So the journal covers every path
 * by construction, needs no table of its own (no change to the data format), and includes
 * the erasures a restore applied (restore writes `secure_delete` records too).
 *
 * File: "KLDRJNL1" ‖ count (u64 BE) ‖ count × (room_id (16) ‖ log_index (8)), sorted and
 * without repeats (the keys of the `headers` table, so one encoding for both).
 */
import { copyBytes, frameKey, readFrameKey } from "../../keys.js";
import type { Tables } from "../layout.js";
import { readAuditRecords } from "../verifyLog.js";
import { BackupError } from "./errors.js";

export const JOURNAL_FILE = "journal.bin";
const MAGIC = new TextEncoder().encode("KLDRJNL1");
const ENTRY_BYTES = 24;

export interface Erasure {
  roomId: bigint;
  logIndex: bigint;
}

function asIndex(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return undefined;
}

/** The frames erased in one environment, from its `secure_delete` audit records. */
export function erasuresOf(t: Pick<Tables, "audit" | "meta">): Erasure[] {
  const out: Erasure[] = [];
  for (const r of readAuditRecords(t)) {
    if (r.kind !== "secure_delete" || r.roomId === undefined) continue;
    const logIndex = asIndex(r.detail.log_index);
    if (logIndex !== undefined) out.push({ roomId: r.roomId, logIndex });
  }
  return out;
}

/**
 * A journal file of fixed-size entries: `magic` (8) ‖ count (u64 BE) ‖ the entries, sorted
 * and without repeats. The frame journal's entries are `headers` keys; the blob journal's
 * (blobFiles.ts) are `cas` keys.
 */
export function encodeKeyJournal(magic: Uint8Array, keys: Iterable<Uint8Array>): Uint8Array {
  const unique = new Map<string, Uint8Array>();
  let size = 0;
  for (const k of keys) {
    unique.set(Buffer.from(k).toString("hex"), k);
    size = k.length;
  }
  const sorted = [...unique.values()].sort((a, b) => Buffer.compare(a, b));
  const out = new Uint8Array(magic.length + 8 + sorted.length * size);
  out.set(magic, 0);
  new DataView(out.buffer).setBigUint64(magic.length, BigInt(sorted.length), false);
  sorted.forEach((k, i) => {
    out.set(k, magic.length + 8 + i * size);
  });
  return out;
}

/** The entries (copies) of a journal file; BackupError(CORRUPT) when `bytes` is not one. */
export function decodeKeyJournal(
  magic: Uint8Array,
  entryBytes: number,
  bytes: Uint8Array,
  what: string,
): Uint8Array[] {
  const head = magic.length + 8;
  if (bytes.length < head || !magic.every((b, i) => bytes[i] === b)) {
    throw new BackupError("CORRUPT", `not ${what}`);
  }
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(
    magic.length,
    false,
  );
  if (BigInt(bytes.length - head) !== count * BigInt(entryBytes)) {
    throw new BackupError("CORRUPT", `${what}: ${count} entries do not fit its length`);
  }
  const out: Uint8Array[] = [];
  for (let at = head; at < bytes.length; at += entryBytes) {
    out.push(copyBytes(bytes.subarray(at, at + entryBytes)));
  }
  return out;
}

/** Sorted, without repeats. */
export function encodeJournal(entries: Iterable<Erasure>): Uint8Array {
  return encodeKeyJournal(
    MAGIC,
    [...entries].map((e) => frameKey(e.roomId, e.logIndex)),
  );
}

/** BackupError(CORRUPT) when `bytes` is not a journal. */
export function decodeJournal(bytes: Uint8Array): Erasure[] {
  return decodeKeyJournal(MAGIC, ENTRY_BYTES, bytes, "an erasure journal").map((k) =>
    readFrameKey(k),
  );
}
