/**
 * The retention words a sweep request carries to the shard that owns a room's storage
 * (moderation/retention.ts plans the sweep; the shard only runs the planner there).
 */

export interface RetentionPolicy {
  /** 0 = no age limit. */
  maxAgeMs: number;
  /** 0 = no count limit. */
  maxCount: number;
}

/**
 * Where a room's sweeps stand: every entry before `cursor` is settled (erased or not an
 * application message); `live` application messages with content lie in [cursor, scanned).
 * Kept in memory: the first sweep after a start scans the room once, later ones only the
 * entries added since, so a sweep costs O(new entries + erased).
 */
export interface RoomCursor {
  cursor: bigint;
  scanned: bigint;
  live: number;
}
