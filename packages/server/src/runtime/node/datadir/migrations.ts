/**
 * The migrations of the data directory, in order (docs/operations.md "Upgrading"). A change
 * to what is on disk that an older kalandrad could not read raises DATA_FORMAT_VERSION
 * (storage/format.ts) and appends the step that converts a directory of the previous
 * version here, with `to` = the new version.
 *
 * What a step must be:
 * - **offline**: it runs with the directory locked (no hub, no other migrate or reshard);
 * - **idempotent**: it may be run again over its own partial or complete result (a crash
 *   mid-step leaves format.json at the old version with `migrating` set, and the next run
 *   starts the step again from the beginning);
 * - **crash-safe**: every intermediate state it leaves is one it can resume from, e.g.
 *   writes to new files renamed into place, or rows rewritten in LMDB transactions that
 *   each leave a readable table;
 * - **erasure-preserving**: it never copies a payload key outside the key vaults, and wipes
 *   (zero + fsync) any vault file it replaces before deleting it (docs/storage.md).
 *
 * Format 1 is the first recorded format: there is nothing to migrate yet.
 */
export interface MigrationContext {
  /** The data directory (`database.path`). */
  dir: string;
  /** Every LMDB directory in it: the hub's own and each `shard-<i>`. */
  storageDirs: string[];
  log: (msg: string) => void;
}

export interface Migration {
  /** The version the directory has after this step (it applies to version `to - 1`). */
  to: number;
  /** What it does, recorded in format.json and printed by `kalandrad migrate`. */
  name: string;
  run(ctx: MigrationContext): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [];
