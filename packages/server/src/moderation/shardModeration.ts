/**
 * Moderation's side of the shards (shards/shardCore.ts `ShardModeration`): the ban list a
 * worker shard keeps, kicks built where the room's GroupInfo is, and retention sweeps
 * planned where the room's storage is. The runtimes hand it to the shards they build.
 */
import type { ShardModeration } from "../shards/shardCore.js";
import { BanList } from "./bans.js";
import { kickUser } from "./removal.js";
import { planSweep } from "./retention.js";

export const shardModeration: ShardModeration = {
  banList: () => new BanList(),
  kick: (room, userId, signer) => kickUser(room, userId, signer),
  planSweep: (storage, q) => planSweep(storage, q.roomId, q.policy, q.nowMs, q.at, q.budget),
};
