/**
 * Small files of a data directory that must never be seen half written (`shards.json`,
 * `format.json`, the reshard journal): written to `<name>.tmp`, fsync'ed, renamed over the
 * old file, and the directory fsync'ed so the rename itself survives a crash.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Atomically replaces `path` with `text` (write, fsync, rename, fsync the directory). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  syncPath(tmp);
  renameSync(tmp, path);
  syncPath(dirname(path));
}

/** `JSON.stringify(value)` and a newline, atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value)}\n`);
}

/** fsync of a file or a directory (a directory's fsync makes renames in it durable). */
export function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
