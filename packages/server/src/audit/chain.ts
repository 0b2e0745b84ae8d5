/**
 * The hash-chained audit log (DESIGN §5): every deletion, kick, ban and authority change.
 * Pure functions over bytes, so the chain can be tested and verified without a database.
 *
 * Record i is stored as `prev ‖ body` where `prev` is SHA-256 of record i-1's stored bytes
 * (32 zero bytes for record 0) and `body` is the CBOR map
 * `{v: 1, seq: i, kind, at, room?, actor, detail}`. The verifier recomputes the chain:
 * an edited record no longer hashes to what its successor names, a dropped or reordered
 * record breaks the sequence numbers, and a dropped tail no longer reaches the head
 * (count and last hash) that the writer keeps beside the log.
 */
import { createHash } from "node:crypto";
import { bytesEqual, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import type { AuditRecord, AuditVerification } from "../storage/types.js";

export const HASH_BYTES = 32;
export const GENESIS_HASH: Uint8Array = new Uint8Array(HASH_BYTES);
const FORMAT_VERSION = 1;

/** Where the chain ends: how many records, and the hash of the last one. */
export interface AuditHead {
  count: bigint;
  hash: Uint8Array;
}

export const EMPTY_HEAD: AuditHead = { count: 0n, hash: GENESIS_HASH };

export class AuditFormatError extends Error {
  override readonly name = "AuditFormatError";
}

export function hashRecord(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** Encodes record `seq` chained after `prev` (the hash of record seq-1). */
export function encodeAuditRecord(prev: Uint8Array, seq: bigint, record: AuditRecord): Uint8Array {
  if (prev.length !== HASH_BYTES) throw new AuditFormatError(`"prev" expected ${HASH_BYTES} bytes`);
  const body: Record<string, unknown> = {
    v: FORMAT_VERSION,
    seq,
    kind: record.kind,
    at: record.at,
    actor: record.actor,
    detail: record.detail,
  };
  if (record.roomId !== undefined) body.room = record.roomId;
  const encoded = stateCborEncode(body);
  const out = new Uint8Array(HASH_BYTES + encoded.length);
  out.set(prev, 0);
  out.set(encoded, HASH_BYTES);
  return out;
}

export interface DecodedAuditRecord {
  prev: Uint8Array;
  seq: bigint;
  record: AuditRecord;
}

function asBigint(v: unknown, label: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  throw new AuditFormatError(`"${label}" is not an integer`);
}

/** Decodes one stored record; AuditFormatError if it is not one. */
export function decodeAuditRecord(bytes: Uint8Array): DecodedAuditRecord {
  if (bytes.length <= HASH_BYTES) throw new AuditFormatError("record too short");
  let body: unknown;
  try {
    body = stateCborDecode(bytes.subarray(HASH_BYTES));
  } catch (err) {
    throw new AuditFormatError(`record body is not CBOR: ${(err as Error).message}`);
  }
  if (typeof body !== "object" || body === null) throw new AuditFormatError("body is not a map");
  const b = body as Record<string, unknown>;
  if (b.v !== FORMAT_VERSION) throw new AuditFormatError(`unknown record version ${String(b.v)}`);
  if (typeof b.kind !== "string" || typeof b.actor !== "string") {
    throw new AuditFormatError("kind and actor must be text");
  }
  if (typeof b.detail !== "object" || b.detail === null || Array.isArray(b.detail)) {
    throw new AuditFormatError("detail must be a map");
  }
  const record: AuditRecord = {
    kind: b.kind,
    at: asBigint(b.at, "at"),
    actor: b.actor,
    detail: b.detail as Record<string, unknown>,
  };
  if (b.room !== undefined) record.roomId = asBigint(b.room, "room");
  return {
    prev: new Uint8Array(bytes.subarray(0, HASH_BYTES)),
    seq: asBigint(b.seq, "seq"),
    record,
  };
}

/**
 * Verifies stored records given in key order (`key` is the record's position as stored).
 * Reports the first record that cannot be trusted:
 * - a record whose key, sequence number or prev hash is not the next one (dropped or
 *   reordered records, or an edited `prev`);
 * - a record whose bytes no longer hash to what its successor (or the head) names (edited);
 * - the first missing position when the log stops short of the head (dropped tail).
 */
export function verifyAuditChain(
  records: Iterable<{ key: bigint; bytes: Uint8Array }>,
  head?: AuditHead,
): AuditVerification {
  let expectedPrev = GENESIS_HASH;
  let index = 0n;
  for (const { key, bytes } of records) {
    const at = Number(index);
    if (key !== index) {
      return { ok: false, firstBroken: at, reason: `record ${index} is missing (found ${key})` };
    }
    let decoded: DecodedAuditRecord;
    try {
      decoded = decodeAuditRecord(bytes);
    } catch (err) {
      return { ok: false, firstBroken: at, reason: `record ${index}: ${(err as Error).message}` };
    }
    if (decoded.seq !== index) {
      return {
        ok: false,
        firstBroken: at,
        reason: `record ${index} carries sequence number ${decoded.seq} (dropped or reordered)`,
      };
    }
    if (!bytesEqual(decoded.prev, expectedPrev)) {
      // The link from index-1 to index is broken: record index-1 was edited (or this
      // record's prev was). The earlier record is the first one that cannot be trusted.
      const broken = index === 0n ? 0 : at - 1;
      return {
        ok: false,
        firstBroken: broken,
        reason: `record ${broken} does not hash to the prev hash stored in record ${index}`,
      };
    }
    expectedPrev = hashRecord(bytes);
    index++;
  }
  if (head !== undefined) {
    if (index < head.count) {
      return {
        ok: false,
        firstBroken: Number(index),
        reason: `log ends at ${index} records but the head says ${head.count} (dropped tail)`,
      };
    }
    if (index > head.count) {
      return {
        ok: false,
        firstBroken: Number(head.count),
        reason: `log has ${index} records but the head says ${head.count}`,
      };
    }
    if (!bytesEqual(head.hash, expectedPrev)) {
      const last = Math.max(0, Number(index) - 1);
      return { ok: false, firstBroken: last, reason: `record ${last} does not hash to the head` };
    }
  }
  return { ok: true, records: Number(index) };
}

/** The head a writer keeps after appending records: count ‖ hash (40 bytes). */
export function encodeHead(head: AuditHead): Uint8Array {
  const out = new Uint8Array(8 + HASH_BYTES);
  new DataView(out.buffer).setBigUint64(0, head.count, false);
  out.set(head.hash, 8);
  return out;
}

export function decodeHead(bytes: Uint8Array): AuditHead {
  if (bytes.length !== 8 + HASH_BYTES) throw new AuditFormatError("audit head must be 40 bytes");
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(
    0,
    false,
  );
  return { count, hash: new Uint8Array(bytes.subarray(8)) };
}
