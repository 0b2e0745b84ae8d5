/**
 * Spawns `kalandrad start` as a child process on loopback ports the OS picks, and reads
 * its "kalandrad ready" log line (port, certificate hash, hub key): test-support's
 * `startKalandrad`, plus the URL and a `stop` the load generator and benches use.
 */
import type { ChildProcess } from "node:child_process";
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
