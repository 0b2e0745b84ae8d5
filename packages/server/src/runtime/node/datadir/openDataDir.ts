/**
 * What `kalandrad start` does to its data directory before opening any storage: take the
 * directory's lock (dataLock.ts), refuse a directory left by an interrupted reshard, and
 * check the data format, recording it at the first start, or with `--migrate` bring it up
 * to date first (docs/operations.md "Upgrading").
 */
import { mkdirSync } from "node:fs";
import { DATA_FORMAT_VERSION } from "../../../storage/format.js";
import { acquireDataLock, type DataLock } from "./dataLock.js";
import { readFormat, writeFormat } from "./formatFile.js";
import { checkFormat, migrateDataDir } from "./migrate.js";
import { refuseInterruptedReshard } from "./reshardJournal.js";

export async function openDataDir(
  dir: string,
  o: { migrate?: boolean; log?: (msg: string) => void } = {},
): Promise<DataLock> {
  mkdirSync(dir, { recursive: true });
  const lock = acquireDataLock(dir, "kalandrad start", { reentrant: true });
  try {
    refuseInterruptedReshard(dir);
    if (o.migrate === true) {
      await migrateDataDir(dir, o.log === undefined ? {} : { log: o.log });
    } else {
      const rec = readFormat(dir);
      // A new directory, or one from before format.json whose format is today's.
      if (!rec.recorded && rec.format === DATA_FORMAT_VERSION) writeFormat(dir, rec);
    }
    checkFormat(dir);
    return lock;
  } catch (e) {
    lock.release();
    throw e;
  }
}
