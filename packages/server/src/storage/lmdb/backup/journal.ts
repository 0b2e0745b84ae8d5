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

/** Sorted, without repeats. */
export function encodeJournal(entries: Iterable<Erasure>): Uint8Array {
  const keys = new Map<string, Uint8Array>();
  for (const e of entries) {
    const k = frameKey(e.roomId, e.logIndex);
    keys.set(Buffer.from(k).toString("hex"), k);
  }
  const sorted = [...keys.values()].sort((a, b) => Buffer.compare(a, b));
  const out = new Uint8Array(MAGIC.length + 8 + sorted.length * ENTRY_BYTES);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setBigUint64(MAGIC.length, BigInt(sorted.length), false);
  sorted.forEach((k, i) => {
    out.set(k, MAGIC.length + 8 + i * ENTRY_BYTES);
  });
  return out;
}

/** BackupError(CORRUPT) when `bytes` is not a journal. */
export function decodeJournal(bytes: Uint8Array): Erasure[] {
  const head = MAGIC.length + 8;
  if (bytes.length < head || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new BackupError("CORRUPT", "not an erasure journal");
  }
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(
    MAGIC.length,
    false,
  );
  if (BigInt(bytes.length - head) !== count * BigInt(ENTRY_BYTES)) {
    throw new BackupError("CORRUPT", `erasure journal: ${count} entries do not fit its length`);
  }
  const out: Erasure[] = [];
  for (let at = head; at < bytes.length; at += ENTRY_BYTES) {
    out.push(readFrameKey(copyBytes(bytes.subarray(at, at + ENTRY_BYTES))));
  }
  return out;
}
