/**
 * Rooms → shards (DESIGN §9): a room lives on shard `hash(room_id) mod count`, so every
 * process computes the same placement without a directory. The hash (SHA-256 of the
 * 16-byte big-endian room id, first 4 bytes) spreads sequential ids evenly.
 */
import { createHash } from "node:crypto";

export function shardOf(roomId: bigint, count: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError('"count" expected >= 1');
  if (count === 1) return 0;
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(roomId >> 64n, 0);
  b.writeBigUInt64BE(roomId & 0xffff_ffff_ffff_ffffn, 8);
  return createHash("sha256").update(b).digest().readUInt32BE(0) % count;
}
