/**
 * `kalandrad start` as a child process on loopback, resolved once it logs "kalandrad ready"
 * (the suites and tools that run the real daemon: client transport tests, tests/e2e,
 * loadgen). The caller passes the bin's path, so this package stays free of workspace
 * dependencies.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface KalandradOptions {
  /** Path of `packages/server/bin/kalandrad.mjs`. */
  bin: string;
  dataDir: string;
  /** WebTransport `host:port` (default: a port the OS picks). */
  listen?: string;
  /** WebSocket `host:port` (default: a port the OS picks). */
  websocketListen?: string;
  /** Monitoring `host:port`; "" disables it (default: a port the OS picks). */
  monitoringListen?: string;
  /** Arguments after `start`, e.g. `["--core", "echo"]`. */
  args?: string[];
  /** Node options for the hub process, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** More KALANDRA_* variables; they win over the defaults above. */
  env?: Record<string, string>;
  /** Each chunk of the hub's stdout (its JSON log), e.g. to keep it in a file. */
  onStdout?: (chunk: string) => void;
  stderr?: "inherit" | "ignore";
  /** The hub is killed and the promise rejects when it is not ready by then. */
  readyTimeoutMs?: number;
}

export interface Kalandrad {
  child: ChildProcess;
  /** WebTransport port. */
  port: number;
  monitoringPort: number | undefined;
  /** `ws://host:port/kalandra` (or `wss://`), "disabled" without a WebSocket listener. */
  websocket: string;
  certHash: Uint8Array;
  hubKey: Uint8Array;
  /** The exit code (null when killed by a signal). */
  exit: Promise<number | null>;
}

interface ReadyLine {
  port: number;
  monitoring_port?: number;
  websocket: string;
  cert_sha256: string;
  hub_key: string;
}

const LOOPBACK_ANY = "127.0.0.1:0";

/** @example const hub = await startKalandrad({ bin, dataDir: dir.path, args: ["--core", "echo"] }); */
export function startKalandrad(o: KalandradOptions): Promise<Kalandrad> {
  const child = spawn(
    process.execPath,
    [...(o.nodeArgs ?? []), o.bin, "start", ...(o.args ?? [])],
    {
      env: {
        ...process.env,
        KALANDRA_DATABASE__PATH: o.dataDir,
        KALANDRA_SERVER__LISTEN: o.listen ?? LOOPBACK_ANY,
        KALANDRA_SERVER__WEBSOCKET_LISTEN: o.websocketListen ?? LOOPBACK_ANY,
        KALANDRA_MONITORING__LISTEN: o.monitoringListen ?? LOOPBACK_ANY,
        ...o.env,
      },
      stdio: ["ignore", "pipe", o.stderr ?? "ignore"],
    },
  );
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let ready = false;
    let log = ""; // stdout until ready, for the error messages
    const timeoutMs = o.readyTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`kalandrad was not ready in ${timeoutMs} ms: ${log}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kalandrad exited with ${code}: ${log}`));
    });
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      o.onStdout?.(d);
      if (ready) return;
      log += d;
      const complete = log.split("\n").slice(0, -1); // the last part may be half a line
      const line = complete.find((l) => l.includes('"kalandrad ready"'));
      if (line === undefined) return;
      ready = true;
      log = "";
      const j = JSON.parse(line) as ReadyLine;
      clearTimeout(timer);
      resolve({
        child,
        port: j.port,
        monitoringPort: j.monitoring_port,
        websocket: j.websocket,
        certHash: Uint8Array.from(Buffer.from(j.cert_sha256, "hex")),
        hubKey: Uint8Array.from(Buffer.from(j.hub_key, "hex")),
        exit,
      });
    });
  });
}
