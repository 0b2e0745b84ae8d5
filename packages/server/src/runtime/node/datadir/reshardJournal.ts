/**
 * The journal of `kalandrad admin reshard` (reshard.ts): `<data>/reshard.json` exists from
 * the moment a reshard starts writing until it has finished, and says how far it got.
 *
 * - `staging`: the new shard directories are being built in `<data>/reshard.new/`; the old
 *   ones are untouched. Interrupted here, the next run rolls back (wipes the staged vaults,
 *   deletes the staging directory) and starts over.
 * - `switching`: the staged directories are complete and synced; the old `shard-<i>` are
 *   being moved to `<data>/reshard.old/` and the new ones into place. Every step of the
 *   switch can be repeated, so the next run finishes it.
 *
 * A hub refuses to start while the journal exists: its rooms may be half in one layout.
 */
import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { syncPath, writeJsonAtomic } from "../files/atomicFile.js";
import { ShardLayoutError } from "../shards/layout.js";

export const RESHARD_FILE = "reshard.json";
/** Where the new shard directories are built. */
export const STAGING_DIR = "reshard.new";
/** Where the old shard directories wait to be wiped once the new ones are in place. */
export const RETIRED_DIR = "reshard.old";

export interface ReshardJournal {
  /** Names this run in the audit records and the archive of the old chains. */
  id: string;
  from: number;
  to: number;
  phase: "staging" | "switching";
  started: string;
}

export function readJournal(dir: string): ReshardJournal | undefined {
  const path = join(dir, RESHARD_FILE);
  if (!existsSync(path)) return undefined;
  const j = JSON.parse(readFileSync(path, "utf8")) as ReshardJournal;
  if (
    typeof j.id !== "string" ||
    !Number.isInteger(j.from) ||
    !Number.isInteger(j.to) ||
    (j.phase !== "staging" && j.phase !== "switching")
  ) {
    throw new ShardLayoutError(`${path} is not a reshard journal: ${JSON.stringify(j)}`);
  }
  return j;
}

export function writeJournal(dir: string, j: ReshardJournal): void {
  writeJsonAtomic(join(dir, RESHARD_FILE), j);
}

export function removeJournal(dir: string): void {
  unlinkSync(join(dir, RESHARD_FILE));
  syncPath(dir);
}

/** Throws ShardLayoutError when a reshard of `dir` was interrupted (the hub must not start). */
export function refuseInterruptedReshard(dir: string): void {
  const j = readJournal(dir);
  if (j === undefined) return;
  throw new ShardLayoutError(
    `${dir}: a reshard from ${j.from} to ${j.to} shards was interrupted (${j.phase}); ` +
      `run \`kalandrad admin reshard --shards ${j.to}\` to ${j.phase === "switching" ? "finish" : "roll back and redo"} it`,
  );
}
