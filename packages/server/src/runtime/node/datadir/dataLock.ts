/**
 * `<data>/kalandrad.lock`: who has the data directory open for writing. LMDB lets several
 * processes open one environment, and the key vault's slot allocator lives in the process
 * that has it open, so two writers would hand out the same vault slots; offline work
 * (`kalandrad migrate`, `kalandrad admin reshard`) must also know the hub is not running.
 *
 * The file holds `{pid, start, purpose}`, created with O_EXCL. A lock whose process is
 * gone (kill -9, power loss) is stale and taken over; "gone" means no process with that
 * pid, or one that started at another time (`/proc/<pid>/stat` field 22, so a recycled
 * pid is not mistaken for the holder), or a zombie. Where /proc is missing only the pid is
 * compared.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { syncPath } from "../files/atomicFile.js";

export const LOCK_FILE = "kalandrad.lock";

export interface LockHolder {
  pid: number;
  /** Process start time in clock ticks since boot, when /proc tells it. */
  start?: string;
  purpose: string;
}

export class DataLockError extends Error {
  override readonly name = "DataLockError";
}

export interface DataLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
}

/** `/proc/<pid>/stat`: the process state letter and start time, when /proc tells them. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces and parentheses).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: f[0] ?? "", start: f[19] ?? "" };
  } catch {
    return undefined;
  }
}

function alive(h: LockHolder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = procStat(h.pid);
  if (now === undefined) return true;
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  if (now.state === "Z" || now.state === "X") return false;
  return h.start === undefined || now.start === h.start;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const j = JSON.parse(readFileSync(path, "utf8")) as Partial<LockHolder>;
    if (!Number.isInteger(j.pid)) return undefined;
    return {
      pid: j.pid as number,
      purpose: String(j.purpose ?? "?"),
      ...(j.start ? { start: j.start } : {}),
    };
  } catch {
    return undefined;
  }
}

/** The live process holding `dir`'s lock, if any (a stale lock file is not a holder). */
export function lockHolder(dir: string): LockHolder | undefined {
  const path = join(dir, LOCK_FILE);
  if (!existsSync(path)) return undefined;
  const h = readHolder(path);
  return h !== undefined && alive(h) ? h : undefined;
}

/**
 * Takes `dir`'s lock for `purpose` ("kalandrad start", "migrate", "reshard"). Throws
 * DataLockError naming the holder when another live process has it. `reentrant`: this
 * process may already hold it (a hub restarted in the same process, as tests do).
 */
export function acquireDataLock(
  dir: string,
  purpose: string,
  o: { reentrant?: boolean } = {},
): DataLock {
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, purpose };
  const start = procStat(process.pid)?.start;
  if (start !== undefined) me.start = start;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${JSON.stringify(me)}\n`, { flag: "wx" });
      syncPath(dir);
      return lockOf(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const h = readHolder(path);
    if (h !== undefined && alive(h)) {
      if (h.pid === process.pid && o.reentrant === true) return lockOf(path);
      throw new DataLockError(
        `${dir} is in use by process ${h.pid} (${h.purpose}); stop it first` +
          (h.pid === process.pid ? " (this process)" : ""),
      );
    }
    // Stale: its process is gone. Remove it and try once more (a racing taker wins by O_EXCL).
    try {
      unlinkSync(path);
    } catch {
      // Another process removed it first.
    }
  }
  throw new DataLockError(`${dir}: could not take ${path}`);
}

function lockOf(path: string): DataLock {
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      if (readHolder(path)?.pid === process.pid) {
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      }
    },
  };
}
