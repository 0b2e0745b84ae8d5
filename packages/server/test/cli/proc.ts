/** Spawning the real kalandrad bin for process-level tests. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";

export const BIN = join(__dirname, "../../bin/kalandrad.mjs");

export function runCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Ready {
  port: number;
  monitoring_port: number;
  /** `ws://host:port/kalandra` (`wss://` with [tls]), "disabled" without a WebSocket listener. */
  websocket: string;
  cert_sha256: string;
  hub_key: string;
}

export interface Daemon {
  child: ChildProcess;
  ready: Ready;
  lines: Record<string, unknown>[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitLog(msg: RegExp, ms?: number): Promise<Record<string, unknown>>;
}

/** Starts `kalandrad start` with loopback ports chosen by the OS and waits for "kalandrad ready". */
export async function startDaemon(
  dataDir: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<Daemon> {
  const child = spawn(process.execPath, [BIN, "start", ...args], {
    env: {
      ...process.env,
      KALANDRA_DATABASE__PATH: dataDir,
      KALANDRA_SERVER__LISTEN: "127.0.0.1:0",
      KALANDRA_SERVER__WEBSOCKET_LISTEN: "127.0.0.1:0",
      KALANDRA_MONITORING__LISTEN: "127.0.0.1:0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buf = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ msg: `NON-JSON: ${line}` });
      }
      i = buf.indexOf("\n");
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr?.setEncoding("utf8").on("data", () => undefined);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("exit", (code, signal) => {
      for (const w of waiters.splice(0)) w();
      r({ code, signal });
    }),
  );
  let exited = false;
  exit.then(() => {
    exited = true;
  });
  const waitLog = async (msg: RegExp, ms = 20_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => typeof l.msg === "string" && msg.test(l.msg));
      if (hit) return hit;
      if (exited)
        throw new Error(`kalandrad exited before logging ${msg}: ${JSON.stringify(lines)}`);
      if (Date.now() > deadline) throw new Error(`no log ${msg}: ${JSON.stringify(lines)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  const ready = (await waitLog(/^kalandrad ready$/)) as unknown as Ready;
  return { child, ready, lines, exit, waitLog };
}

/** SIGTERM (when it still runs) and waits for the exit. */
export async function stopDaemon(d: Daemon | undefined): Promise<void> {
  if (d !== undefined && d.child.exitCode === null && d.child.signalCode === null) {
    d.child.kill("SIGTERM");
    await d.exit;
  }
}
