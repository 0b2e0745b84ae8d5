/**
 * Checking a data directory's format at start and bringing it up to date
 * (docs/operations.md "Upgrading"). `checkFormat` refuses a directory this kalandrad cannot
 * read as it is: a newer format (written by a later kalandrad), an older one (run
 * `kalandrad migrate` first), or one whose migration was interrupted. `migrateDataDir`
 * runs the steps of migrations.ts from the directory's version to the target, recording
 * each in format.json before and after it runs, so a crash at any point is resumed by
 * running it again.
 */
import { join } from "node:path";
import { DATA_FORMAT_VERSION, FORMAT_FILE } from "../../../storage/format.js";
import { shardDirs } from "../shards/layout.js";
import { DataFormatError, type FormatRecord, readFormat, writeFormat } from "./formatFile.js";
import { MIGRATIONS, type Migration } from "./migrations.js";

export interface MigrateOptions {
  /** The steps (default migrations.ts); tests pass their own. */
  steps?: readonly Migration[];
  /** The version to reach (default DATA_FORMAT_VERSION). */
  target?: number;
  log?: (msg: string) => void;
  /** ISO time for the record (runtime-injected; default the wall clock). */
  now?: () => string;
}

export interface MigrateResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Throws DataFormatError unless `dir` is at format `target` with no migration under way.
 * The message names both versions and what to do.
 */
export function checkFormat(dir: string, target = DATA_FORMAT_VERSION): FormatRecord {
  const rec = readFormat(dir);
  if (rec.format > target) {
    throw new DataFormatError(
      `${dir} holds data format ${rec.format}, newer than this kalandrad reads (format ${target}): ` +
        `run the kalandrad version that wrote it, or restore a backup made at format ${target}`,
    );
  }
  if (rec.migrating !== undefined) {
    throw new DataFormatError(
      `${dir}: the migration to format ${rec.migrating.to} ("${rec.migrating.name}") was interrupted; ` +
        "run `kalandrad migrate` to finish it",
    );
  }
  if (rec.format < target) {
    throw new DataFormatError(
      `${dir} holds data format ${rec.format}, this kalandrad needs format ${target}: ` +
        "back it up, then run `kalandrad migrate` (or `kalandrad start --migrate`)",
    );
  }
  return rec;
}

/**
 * Brings `dir` (locked by the caller: no hub running) to `target`, one step at a time.
 * A directory without format.json gets one. Refuses a newer directory, and a gap in the
 * steps, before changing anything.
 */
export async function migrateDataDir(dir: string, o: MigrateOptions = {}): Promise<MigrateResult> {
  const steps = o.steps ?? MIGRATIONS;
  const target = o.target ?? DATA_FORMAT_VERSION;
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date().toISOString());
  const rec = readFormat(dir);
  if (rec.format > target) checkFormat(dir, target);
  const plan: Migration[] = [];
  for (let v = rec.format + 1; v <= target; v++) {
    const step = steps.find((s) => s.to === v);
    if (step === undefined) {
      throw new DataFormatError(`no migration to format ${v} (from ${v - 1}) is known`);
    }
    plan.push(step);
  }
  const storageDirs = [dir, ...shardDirs(dir).map((i) => join(dir, `shard-${i}`))];
  let current: FormatRecord = { format: rec.format, migrations: rec.migrations };
  if (!rec.recorded) {
    writeFormat(dir, current);
    log(`recorded format ${rec.format} in ${join(dir, FORMAT_FILE)}`);
  }
  const applied: string[] = [];
  for (const step of plan) {
    const resumed = rec.migrating?.to === step.to ? " (resuming an interrupted run)" : "";
    log(`format ${step.to - 1} → ${step.to}: ${step.name}${resumed}`);
    writeFormat(dir, { ...current, migrating: { to: step.to, name: step.name, started: now() } });
    await step.run({ dir, storageDirs, log });
    current = {
      format: step.to,
      migrations: [...current.migrations, { to: step.to, name: step.name, at: now() }],
    };
    writeFormat(dir, current);
    applied.push(step.name);
  }
  if (plan.length === 0 && rec.migrating !== undefined) {
    // Recorded as under way but already at the target (a crash after the step's final write).
    writeFormat(dir, current);
  }
  return { from: rec.format, to: current.format, applied };
}
