/**
 * The shard layout of a kalandrad data directory, recorded in `<data>/shards.json` at the
 * first start (docs/architecture.md "Shards", docs/operations.md "What is on disk").
 *
 * With worker shards a room lives in `<data>/shard-<shardOf(room, count)>`, so a directory
 * can only be reopened with the shard count and runtime it was created with: anything else
 * would silently lose rooms. A different configuration is refused with an error naming the
 * key to set; `kalandrad admin reshard --shards N` (../datadir/reshard.ts) moves the rooms of
 * a stopped hub to another count.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "../files/atomicFile.js";

export type ShardRuntime = "worker" | "in-process";

export interface ShardLayout {
  runtime: ShardRuntime;
  /** Worker shards: the number of `shard-<i>` directories. In process: informative only. */
  shards: number;
}

export const LAYOUT_FILE = "shards.json";

export class ShardLayoutError extends Error {
  override readonly name = "ShardLayoutError";
}

/** The recorded layout of `dir`, or undefined for a directory that has none yet. */
export function readShardLayout(dir: string): ShardLayout | undefined {
  const path = join(dir, LAYOUT_FILE);
  if (!existsSync(path)) return undefined;
  const j = JSON.parse(readFileSync(path, "utf8")) as Partial<ShardLayout>;
  if (
    (j.runtime !== "worker" && j.runtime !== "in-process") ||
    !Number.isInteger(j.shards) ||
    (j.shards as number) < 1
  ) {
    throw new ShardLayoutError(`${path} is not a shard layout: ${JSON.stringify(j)}`);
  }
  return { runtime: j.runtime, shards: j.shards as number };
}

/** `shard-<i>` directories present in `dir` (sorted by index). */
export function shardDirs(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^shard-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/**
 * The layout to open `dir` with, given the configuration (`shards` 0 = automatic), the
 * default count for a new directory, and whether the directory's own storage holds rooms
 * (the in-process runtime keeps them there). Records it when the directory is new; throws
 * ShardLayoutError when the configuration does not fit the directory.
 */
export function resolveShardLayout(
  dir: string,
  want: { runtime: ShardRuntime; shards: number },
  o: { defaultShards: number; rootHasRooms: boolean },
): ShardLayout {
  let have = readShardLayout(dir);
  // An in-process directory without rooms has nothing to move: it may become a worker one.
  if (have?.runtime === "in-process" && want.runtime === "worker" && !o.rootHasRooms) {
    have = undefined;
  }
  if (have !== undefined) {
    if (have.runtime !== want.runtime) {
      throw new ShardLayoutError(
        `${dir} was created with server.shard_runtime = "${have.runtime}"` +
          (have.runtime === "worker" ? ` and ${have.shards} shards` : "") +
          `; set server.shard_runtime = "${have.runtime}" (moving rooms between runtimes is not implemented)`,
      );
    }
    if (want.runtime === "worker" && want.shards !== 0 && want.shards !== have.shards) {
      throw new ShardLayoutError(
        `server.shards = ${want.shards}, but ${dir} holds ${have.shards} worker shards ` +
          `(shard-0 … shard-${have.shards - 1}; each room lives in the directory of the shard its id hashes to); ` +
          `set server.shards = ${have.shards} or 0, or move the rooms first with \`kalandrad admin reshard --shards ${want.shards}\``,
      );
    }
    return want.runtime === "worker"
      ? have
      : { runtime: "in-process", shards: want.shards === 0 ? 1 : want.shards };
  }
  const dirs = shardDirs(dir);
  if (dirs.length > 0) {
    throw new ShardLayoutError(
      `${dir} holds shard directories (${dirs.map((i) => `shard-${i}`).join(", ")}) but no ${LAYOUT_FILE}; ` +
        `write {"runtime":"worker","shards":<count>} there to say how many shards it was created with`,
    );
  }
  if (want.runtime === "worker" && o.rootHasRooms) {
    throw new ShardLayoutError(
      `${dir} holds rooms of the in-process shard runtime (a data directory created before worker shards); ` +
        `set server.shard_runtime = "in-process" (moving rooms into worker shards is not implemented)`,
    );
  }
  const layout: ShardLayout =
    want.runtime === "worker"
      ? { runtime: "worker", shards: want.shards === 0 ? o.defaultShards : want.shards }
      : { runtime: "in-process", shards: want.shards === 0 ? 1 : want.shards };
  writeLayout(dir, layout);
  return layout;
}

/** Atomically (write, fsync, rename) records the layout. */
export function writeLayout(dir: string, layout: ShardLayout): void {
  writeJsonAtomic(join(dir, LAYOUT_FILE), layout);
}
