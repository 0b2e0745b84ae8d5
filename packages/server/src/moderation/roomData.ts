/**
 * What moderation reads of the rooms, asked of the shard that owns each room (DESIGN §9).
 * In the worker runtime a room's frames, keys and user index live in its shard's own
 * storage directory (setup.ts), which only that shard's thread may open; the hub thread
 * therefore asks with `query` messages instead of reading a storage itself. The in-process
 * runtime answers the same queries from its shared storage, so moderation has one code
 * path for both runtimes.
 *
 * `syncBans` copies the hub's ban list into every shard (whole list on each change; bans
 * are few), so a worker shard's sequencer refuses commits and Add proposals naming a
 * banned user exactly as the in-process one does.
 */

import { askShard as ask, askAllShards as askAll } from "../shards/askShards.js";
import { shardOf } from "../shards/shardOf.js";
import type { ShardSet } from "../shards/shardSet.js";
import type { Ban } from "./bans.js";
import type { RetentionPolicy, RoomCursor, SweepPlan } from "./retention.js";

/** One log entry as moderation sees it: header and whether its payload was erased. */
export interface RoomEntry {
  logIndex: bigint;
  header: Uint8Array;
  erased: boolean;
}

/** Room reads for moderation (moderation/service.ts), asynchronous across threads. */
export interface RoomData {
  listRooms(): Promise<bigint[]>;
  hasRoom(roomId: bigint): Promise<boolean>;
  entry(roomId: bigint, logIndex: bigint): Promise<RoomEntry | undefined>;
  userIndex(userId: string): Promise<{ roomId: bigint; logIndex: bigint }[]>;
  planSweep(
    roomId: bigint,
    policy: RetentionPolicy,
    nowMs: bigint,
    at: RoomCursor,
    budget: number,
  ): Promise<SweepPlan>;
}

const byBigint = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** RoomData answered by the shards of `shards`, each for the rooms it owns. */
export function shardRoomData(shards: ShardSet): RoomData {
  const owner = (roomId: bigint) => shardOf(roomId, shards.count);
  return {
    listRooms: async () => (await askAll<bigint>(shards, { q: "rooms" })).sort(byBigint),
    hasRoom: (roomId) => ask<boolean>(shards, owner(roomId), { q: "room", roomId }),
    entry: (roomId, logIndex) =>
      ask<RoomEntry | undefined>(shards, owner(roomId), { q: "entry", roomId, logIndex }),
    userIndex: async (userId) =>
      (await askAll<{ roomId: bigint; logIndex: bigint }>(shards, { q: "userIndex", userId })).sort(
        (a, b) => byBigint(a.roomId, b.roomId) || byBigint(a.logIndex, b.logIndex),
      ),
    planSweep: (roomId, policy, nowMs, at, budget) =>
      ask<SweepPlan>(shards, owner(roomId), {
        q: "sweepPlan",
        roomId,
        policy,
        nowMs,
        at,
        budget,
      }),
  };
}

/**
 * Copies `bans` into every shard now and after each change. Deliveries to one shard are
 * handled in order, so a ban reaches a shard before any kick or frame sent after it.
 */
export function syncBans(
  shards: ShardSet,
  bans: { list(): Ban[]; onChange(fn: (bans: Ban[]) => void): void },
): void {
  shards.broadcast({ t: "bans", bans: bans.list() });
  bans.onChange((list) => shards.broadcast({ t: "bans", bans: list }));
}
