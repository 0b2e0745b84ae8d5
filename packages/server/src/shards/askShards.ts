/**
 * Queries asked of the shards from the hub thread (each shard answers for the rooms it
 * owns, from its own storage with worker shards): one shard, or every shard with the
 * answers' lists concatenated. Used by the hub core (room counts, room creators) and by
 * moderation (moderation/roomData.ts).
 */
import type { ShardQuery } from "./shardCore.js";
import type { ShardSet } from "./shardSet.js";

/** One shard's answer to `query`; throws when it does not answer or refuses. */
export async function askShard<T>(shards: ShardSet, index: number, query: ShardQuery): Promise<T> {
  const r = (await shards.deliver(index, { t: "query", query })) as
    | { ok: true; data: T }
    | { ok: false; refusal: { code: string; message: string } }
    | undefined;
  if (r === undefined) throw new Error(`shard ${index} did not answer ${query.q}`);
  if (!r.ok) throw new Error(`shard ${index}: ${r.refusal.code} ${r.refusal.message}`);
  return r.data;
}

/** Every shard's list answer to `query`, concatenated. */
export async function askAllShards<T>(shards: ShardSet, query: ShardQuery): Promise<T[]> {
  const all = await Promise.all(
    Array.from({ length: shards.count }, (_, i) => askShard<T[]>(shards, i, query)),
  );
  return all.flat();
}
