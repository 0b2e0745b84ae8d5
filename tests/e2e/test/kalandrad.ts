/**
 * kalandrad as a child process for the end-to-end suites (the real hub core and LMDB), and
 * a client core set up for them. `E2E_HUB_LOG=/tmp/hub.log` keeps the hub's debug log.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { getKalandraCiphersuiteImpl, KalandraClient, MemoryStore } from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

// The server package's `kalandrad` bin (package.json "bin"), found through the workspace link.
const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);

export interface Hub {
  child: ChildProcess;
  certHash: Uint8Array;
  hubKey: Uint8Array;
  /** `ws://127.0.0.1:<port>/kalandra`. */
  wsUrl: string;
  exit: Promise<number | null>;
}

/** Starts kalandrad on loopback (`wsPort` 0 = the OS picks) over `dataDir`; resolves once ready. */
export function startHub(dataDir: string, port: number, wsPort = 0): Promise<Hub> {
  const child = spawn(process.execPath, [BIN, "start"], {
    env: {
      ...process.env,
      KALANDRA_DATABASE__PATH: dataDir,
      KALANDRA_SERVER__LISTEN: `127.0.0.1:${port}`,
      KALANDRA_SERVER__WEBSOCKET_LISTEN: `127.0.0.1:${wsPort}`,
      KALANDRA_MONITORING__LISTEN: "",
      KALANDRA_SERVER__LOG_LEVEL: process.env.E2E_HUB_LOG ? "debug" : "info",
    },
    stdio: ["ignore", "pipe", "ignore"],
  });
  if (process.env.E2E_HUB_LOG)
    child.stdout?.on("data", (d: Buffer) => appendFileSync(process.env.E2E_HUB_LOG as string, d));
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`kalandrad did not start: ${buf}`)), 30_000);
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const line = buf.split("\n").find((l) => l.includes('"kalandrad ready"'));
      if (!line) return;
      const j = JSON.parse(line) as { cert_sha256: string; hub_key: string; websocket: string };
      clearTimeout(t);
      resolve({
        child,
        exit,
        certHash: Uint8Array.from(Buffer.from(j.cert_sha256, "hex")),
        hubKey: Uint8Array.from(Buffer.from(j.hub_key, "hex")),
        wsUrl: j.websocket,
      });
    });
  });
}

/** Stops the hub with SIGTERM (when it still runs) and waits for it to exit. */
export async function stopHub(hub: Hub | undefined): Promise<void> {
  if (hub !== undefined && hub.child.exitCode === null && hub.child.signalCode === null) {
    hub.child.kill("SIGTERM");
    await hub.exit;
  }
}

/** A client core for user `id`, not yet connected (`client.reconnect(conn)` connects it). */
export function openClient(id: string, hubPublicKey: Uint8Array): Promise<KalandraClient> {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  return KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId: id,
    keyPackageTarget: 3,
    requestPolicy: { retryMs: 300, maxAttempts: 200 },
  });
}
