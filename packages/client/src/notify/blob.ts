/**
 * The notification key blob (docs/client.md "Notifications"): for each (room, epoch),
 * each sender leaf's current chain key and the generation it yields next. Nothing else:
 * no MLS tree, no exporter secret, no skipped keys. All integers big-endian.
 *
 *   header   magic "KNK1" (4) | version 0x01 (1) | reserved 0x00 (1) | groups u16 (2)
 *   group    room_id (16) | epoch u64 (8) | entries u32 (4)
 *   entry    leaf u32 (4) | generation u32 (4) | chain_key (32)   — leaves strictly ascending
 *
 * Size: 8 + Σ_groups (28 + 40·entries); a 100-member room over two epochs is 7,984 bytes.
 * The blob is as secret as the chain keys it holds: whoever has it reads every later
 * message of those epochs. Store it where the platform keeps secrets.
 */
import { NotifyError } from "./errors.js";

export const BLOB_MAGIC = 0x4b4e4b31; // "KNK1"
export const BLOB_VERSION = 1;
const HEADER_BYTES = 8;
const GROUP_BYTES = 28;
const ENTRY_BYTES = 40;
const KEY_BYTES = 32;
const MAX_GROUPS = 0xffff;

export interface BlobEntry {
  readonly leaf: number;
  readonly generation: number;
  readonly chainKey: Uint8Array;
}

export interface BlobGroup {
  readonly roomId: bigint;
  readonly epoch: bigint;
  readonly entries: readonly BlobEntry[];
}

export function blobSize(groups: readonly BlobGroup[]): number {
  let n = HEADER_BYTES;
  for (const g of groups) n += GROUP_BYTES + ENTRY_BYTES * g.entries.length;
  return n;
}

export function encodeBlob(groups: readonly BlobGroup[]): Uint8Array {
  if (groups.length > MAX_GROUPS)
    throw new RangeError(`at most ${MAX_GROUPS} (room, epoch) groups`);
  const out = new Uint8Array(blobSize(groups));
  const v = new DataView(out.buffer);
  v.setUint32(0, BLOB_MAGIC);
  v.setUint8(4, BLOB_VERSION);
  v.setUint16(6, groups.length);
  let o = HEADER_BYTES;
  for (const g of groups) {
    v.setBigUint64(o, g.roomId >> 64n);
    v.setBigUint64(o + 8, g.roomId & 0xffff_ffff_ffff_ffffn);
    v.setBigUint64(o + 16, g.epoch);
    v.setUint32(o + 24, g.entries.length);
    o += GROUP_BYTES;
    let prev = -1;
    for (const e of g.entries) {
      if (e.leaf <= prev) throw new RangeError("blob entries must have strictly ascending leaves");
      if (e.chainKey.length !== KEY_BYTES)
        throw new RangeError(`"chainKey" expected ${KEY_BYTES} bytes`);
      prev = e.leaf;
      v.setUint32(o, e.leaf);
      v.setUint32(o + 4, e.generation);
      out.set(e.chainKey, o + 8);
      o += ENTRY_BYTES;
    }
  }
  return out;
}

/** Parses a blob; chain keys are copied out, so the caller may wipe `blob` afterwards. */
export function decodeBlob(blob: Uint8Array): BlobGroup[] {
  if (!(blob instanceof Uint8Array) || blob.length < HEADER_BYTES) {
    throw new NotifyError("MALFORMED_BLOB", "shorter than its header");
  }
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (v.getUint32(0) !== BLOB_MAGIC) throw new NotifyError("MALFORMED_BLOB", "bad magic");
  if (v.getUint8(4) !== BLOB_VERSION)
    throw new NotifyError("MALFORMED_BLOB", `unknown version ${v.getUint8(4)}`);
  if (v.getUint8(5) !== 0) throw new NotifyError("MALFORMED_BLOB", "reserved byte set");
  const count = v.getUint16(6);
  const groups: BlobGroup[] = [];
  let o = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (o + GROUP_BYTES > blob.length)
      throw new NotifyError("MALFORMED_BLOB", "truncated group header");
    const roomId = (v.getBigUint64(o) << 64n) | v.getBigUint64(o + 8);
    const epoch = v.getBigUint64(o + 16);
    const n = v.getUint32(o + 24);
    o += GROUP_BYTES;
    if (n > (blob.length - o) / ENTRY_BYTES)
      throw new NotifyError("MALFORMED_BLOB", "truncated entries");
    const entries: BlobEntry[] = [];
    let prev = -1;
    for (let j = 0; j < n; j++) {
      const leaf = v.getUint32(o);
      if (leaf <= prev) throw new NotifyError("MALFORMED_BLOB", "leaves not strictly ascending");
      prev = leaf;
      entries.push({
        leaf,
        generation: v.getUint32(o + 4),
        chainKey: blob.slice(o + 8, o + ENTRY_BYTES),
      });
      o += ENTRY_BYTES;
    }
    groups.push({ roomId, epoch, entries });
  }
  if (o !== blob.length)
    throw new NotifyError("MALFORMED_BLOB", `${blob.length - o} trailing bytes`);
  return groups;
}
