/**
 * Crash-test driver shared by the storage and sequencer crash tests: runs a TypeScript child
 * script under `tsx`, waits for it to print `ready`, lets it work for `workMs`, kills it with
 * SIGKILL and returns the complete lines it printed on stdout.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The server package directory: the child's working directory. */
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface KilledChildOptions {
  /** Path of the child script. */
  script: string;
  args: string[];
  /** How long the child works after `ready` before it is killed. */
  workMs: number;
  /** How long the child may take to print `ready`. */
  readyTimeoutMs: number;
}

/**
 * Resolves with the complete stdout lines of the killed child (a line cut by the kill is
 * dropped: it was not acknowledged). Rejects if the child never becomes ready or exits on
 * its own.
 */
export function runUntilKilled(o: KilledChildOptions): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", o.script, ...o.args], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child never became ready: ${err}`));
    }, o.readyTimeoutMs);
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (timer === undefined && out.startsWith("ready\n")) {
        clearTimeout(guard);
        timer = setTimeout(() => child.kill("SIGKILL"), o.workMs);
      }
    });
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("exit", (_code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child exited on its own (${signal}): ${err}`));
      else resolve(out.split("\n").slice(0, -1));
    });
  });
}
