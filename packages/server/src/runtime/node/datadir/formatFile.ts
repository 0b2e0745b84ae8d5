/**
 * `<data>/format.json`: which data format version a directory is in (storage/format.ts),
 * the migrations that brought it there, and a migration that is under way. A directory
 * without the file was made by kalandrad before format versions were recorded, which is
 * format 1 (docs/operations.md "Upgrading").
 *
 *   {"format": 2, "migrations": [{"to": 2, "name": "…", "at": "2026-…"}],
 *    "migrating": {"to": 3, "name": "…", "started": "…"}}      (only while a step runs)
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FORMAT_FILE } from "../../../storage/format.js";
import { writeJsonAtomic } from "../files/atomicFile.js";

/** The format of a directory that has no format.json: what kalandrad wrote before issue 16. */
export const UNRECORDED_FORMAT = 1;

export interface AppliedMigration {
  to: number;
  name: string;
  at: string;
}

export interface FormatRecord {
  format: number;
  migrations: AppliedMigration[];
  /** A step that started and has not finished (it is run again: every step is idempotent). */
  migrating?: { to: number; name: string; started: string };
}

export class DataFormatError extends Error {
  override readonly name = "DataFormatError";
}

/** The recorded format of `dir`; `recorded` false when the file does not exist (format 1). */
export function readFormat(dir: string): FormatRecord & { recorded: boolean } {
  const path = join(dir, FORMAT_FILE);
  if (!existsSync(path)) return { format: UNRECORDED_FORMAT, migrations: [], recorded: false };
  let j: Partial<FormatRecord>;
  try {
    j = JSON.parse(readFileSync(path, "utf8")) as Partial<FormatRecord>;
  } catch (e) {
    throw new DataFormatError(`${path} is not JSON: ${(e as Error).message}`);
  }
  if (!Number.isInteger(j.format) || (j.format as number) < 1) {
    throw new DataFormatError(`${path}: "format" expected a version >= 1, got ${j.format}`);
  }
  const migrations = Array.isArray(j.migrations) ? j.migrations : [];
  const m = j.migrating;
  return {
    format: j.format as number,
    migrations,
    ...(m !== undefined && Number.isInteger(m.to) ? { migrating: m } : {}),
    recorded: true,
  };
}

/** Records `rec` atomically (a crash leaves the old record or the new one, never half). */
export function writeFormat(dir: string, rec: FormatRecord): void {
  const { format, migrations, migrating } = rec;
  writeJsonAtomic(join(dir, FORMAT_FILE), {
    format,
    migrations,
    ...(migrating === undefined ? {} : { migrating }),
  });
}
