/**
 * What the cores ask about bans (issue 8). Moderation keeps the list (moderation/bans.ts,
 * rebuilt from the audit log) and implements `BanPolicy`; the sequencer and the shards
 * only ask, so no core imports moderation.
 */

export type BanScope = "room" | "hub";

/** One ban, per user id (every device of the user is covered). */
export interface Ban {
  userId: string;
  scope: BanScope;
  /** Set for a room ban. */
  roomId?: bigint;
}

/** Who may not be in a room: banned there (`roomId`) or hub-wide. */
export interface BanPolicy {
  isBanned(userId: string, roomId?: bigint): boolean;
}

/** A shard's own copy of the hub's ban list (worker threads), replaced whole on each change. */
export interface BanListCopy extends BanPolicy {
  replace(bans: readonly Ban[]): void;
}
