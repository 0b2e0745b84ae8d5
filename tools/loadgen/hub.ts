/**
 * Spawns `kalandrad start` as a child process on loopback ports the OS picks, and reads
 * its "kalandrad ready" log line (port, certificate hash, hub key): test-support's
 * `startKalandrad`, plus the URL and a `stop` the load generator and benches use.
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startKalandrad } from "@kalandra/test-support";

const BIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../packages/server/bin/kalandrad.mjs",
);

export interface SpawnedHub {
  child: ChildProcess;
  port: number;
  monitoringPort: number;
  url: string;
  /** `ws://127.0.0.1:<port>/kalandra`: the WebSocket listener. */
  websocket: string;
  certHash: Uint8Array;
  hubKey: Uint8Array;
  exit: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function spawnHub(
  dataDir: string,
  env: Record<string, string> = {},
  args: string[] = [],
  /** Node options for the hub process, e.g. `--cpu-prof` to see where its time goes. */
  nodeArgs: string[] = [],
): Promise<SpawnedHub> {
  const hub = await startKalandrad({
    bin: BIN,
    dataDir,
    args,
    nodeArgs,
    env: { KALANDRA_SERVER__LOG_LEVEL: "info", ...env },
    stderr: "inherit",
  });
  return {
    ...hub,
    monitoringPort: hub.monitoringPort ?? 0,
    url: `https://127.0.0.1:${hub.port}/kalandra`,
    stop: async (signal = "SIGTERM") => {
      if (hub.child.exitCode === null) hub.child.kill(signal);
      return hub.exit;
    },
  };
}

/**
 * The WebSocket front processes of hub `pid` (`server.websocket_fronts`): its children
 * (Linux, /proc/<pid>/task/<tid>/children) whose command line is a front's; the hub's
 * other, short-lived children (a /metrics or readiness helper) are left out. [] when gone.
 */
export function frontPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) =>
        readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean),
      )
      .filter((c) => /wsFront(Boot)?\.(mjs|js|ts)/.test(readFileSync(`/proc/${c}/cmdline`, "utf8")))
      .map(Number);
  } catch {
    return [];
  }
}
