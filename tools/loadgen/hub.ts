/**
 * Spawns `kalandrad start` as a child process on loopback ports the OS picks, and reads
 * its "kalandrad ready" log line (port, certificate hash, hub key).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../packages/server/bin/kalandrad.mjs",
);

export interface SpawnedHub {
  child: ChildProcess;
  port: number;
  monitoringPort: number;
  url: string;
  certHash: Uint8Array;
  hubKey: Uint8Array;
  exit: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnHub(
  dataDir: string,
  env: Record<string, string> = {},
  args: string[] = [],
  /** Node options for the hub process, e.g. `--cpu-prof` to see where its time goes. */
  nodeArgs: string[] = [],
): Promise<SpawnedHub> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, "start", ...args], {
    env: {
      ...process.env,
      KALANDRA_DATABASE__PATH: dataDir,
      KALANDRA_SERVER__LISTEN: "127.0.0.1:0",
      KALANDRA_SERVER__WEBSOCKET_LISTEN: "127.0.0.1:0",
      KALANDRA_MONITORING__LISTEN: "127.0.0.1:0",
      KALANDRA_SERVER__LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("kalandrad did not become ready in 30 s"));
    }, 30_000);
    child.on("exit", (code) => reject(new Error(`kalandrad exited with ${code}`)));
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.includes('"kalandrad ready"')) continue;
        const j = JSON.parse(line) as {
          port: number;
          monitoring_port: number;
          cert_sha256: string;
          hub_key: string;
        };
        clearTimeout(timer);
        resolve({
          child,
          port: j.port,
          monitoringPort: j.monitoring_port,
          url: `https://127.0.0.1:${j.port}/kalandra`,
          certHash: Uint8Array.from(Buffer.from(j.cert_sha256, "hex")),
          hubKey: Uint8Array.from(Buffer.from(j.hub_key, "hex")),
          exit,
          stop: async (signal = "SIGTERM") => {
            if (child.exitCode === null) child.kill(signal);
            return exit;
          },
        });
      }
    });
  });
}
