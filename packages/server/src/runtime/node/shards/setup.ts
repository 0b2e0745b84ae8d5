/**
 * How a worker shard gets its storage and group views. A worker cannot share the main
 * thread's Storage object (the LMDB storage keeps in-memory state: vault slot allocator,
 * next indexes), so each shard owns its own data directory `<path>/shard-<index>`: rooms
 * are placed by hash (shardOf), so a room's frames, keys and state live in exactly one
 * shard's directory and shards never contend. The shard count of a data directory is
 * therefore fixed (docs/architecture.md "Shards").
 *
 * A setup module exports `setupShard(args)`; this is the default one (LMDB + PublicGroup).
 */
import { join } from "node:path";
import type { GroupViewFactory } from "../../../sequencer/groupView.js";
import { publicGroupViews } from "../../../sequencer/publicGroupViews.js";
import { openLmdbStorage } from "../../../storage/lmdb/lmdbStorage.js";
import type { Storage } from "../../../storage/types.js";

export interface ShardSetupArgs {
  index: number;
  count: number;
  /** Options for the setup module, structured-cloneable (e.g. `{path, hubKey, noSync}`). */
  options: Record<string, unknown>;
}

export interface ShardResources {
  storage: Storage;
  groups: GroupViewFactory;
}

export type SetupShard = (args: ShardSetupArgs) => Promise<ShardResources>;

/** `<path>/shard-<index>` for one shard of a data directory. */
export function shardPath(path: string, index: number): string {
  return join(path, `shard-${index}`);
}

export const setupShard: SetupShard = async ({ index, options }) => {
  const path = options.path;
  if (typeof path !== "string") throw new TypeError('"options.path" expected a string');
  const hubKey = options.hubKey instanceof Uint8Array ? options.hubKey : undefined;
  const storage = await openLmdbStorage({
    path: shardPath(path, index),
    noSync: options.noSync === true,
  });
  return { storage, groups: publicGroupViews(hubKey) };
};
