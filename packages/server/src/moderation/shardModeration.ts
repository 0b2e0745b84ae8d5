/**
 * Moderation's side of the shards (shards/shardCore.ts `ShardModeration`): the ban list a
 * worker shard keeps, kicks (and the enlisting of other hubs as the room's external senders)
 * built where the room's GroupInfo is, and retention sweeps
 * planned where the room's storage is. The runtimes hand it to the shards they build.
 */
import type { ShardModeration } from "../shards/shardCore.js";
import { BanList } from "./bans.js";
import { enlistHubs } from "./enlistHubs.js";
import { kickUser } from "./removal.js";
import { planSweep } from "./retention.js";

export const shardModeration: ShardModeration = {
  banList: () => new BanList(),
  kick: (room, userId, signer) => kickUser(room, userId, signer),
  enlist: (room, keys, signer) => enlistHubs(room, keys, signer),
  planSweep: (storage, q) => planSweep(storage, q.roomId, q.policy, q.nowMs, q.at, q.budget),
};
