/**
 * Idle sessions spread over several processes (issue 15): each child process
 * (idleWorker.ts) opens its share with `IdleSessions` from its own source addresses, so
 * no process comes near its file-descriptor limit (`ulimit -n`, 20,000 here) and the
 * handshakes' signing is spread over the cores. The parent only counts.
 *
 * @example
 * const fleet = await IdleFleet.start({ url: hub.websocket, sessions: 20_000, processes: 4,
 *   addresses: loopbackAddresses(20), pingMs: 45_000 });
 * // ... measure ...
 * await fleet.close();
 */
import { type ChildProcess, fork } from "node:child_process";
import { Watchdog } from "./fleetWatchdog.js";
import type { IdleHealth, IdleSessionReport } from "./idleSessions.js";

export interface IdleFleetOptions {
  url: string;
  sessions: number;
  processes: number;
  /** Source addresses; each process takes a disjoint share (at least one). */
  addresses: readonly string[];
  pingMs: number;
  /** Handshakes in flight per process. */
  concurrency?: number;
  sessionsPerUser?: number;
  /** Wall-clock time (Date.now()) after which no process starts another handshake. */
  deadline?: number;
  /** Distinguishes the user ids of several fleets against one hub. */
  userPrefix?: string;
  log?: (line: string) => void;
  /** Each process's health report (every 10 s) as it arrives. */
  health?: (process: number, health: IdleHealth) => void;
}

/** `count` loopback addresses 127.0.0.2, 127.0.0.3, … (Linux routes all of 127/8 to lo). */
export function loopbackAddresses(count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`,
  );
}

const entry = new URL(
  import.meta.url.endsWith(".ts") ? "./idleWorker.ts" : "./idleWorker.js",
  import.meta.url,
);

export class IdleFleet {
  private constructor(
    private readonly children: ChildProcess[],
    readonly report: IdleSessionReport,
    private readonly healths: (IdleHealth | undefined)[],
  ) {}

  /** The last health report of each process (every 10 s), summed. */
  health(): IdleHealth {
    return sumHealth(this.healths);
  }

  static async start(o: IdleFleetOptions): Promise<IdleFleet> {
    const n = Math.max(1, Math.min(o.processes, o.sessions));
    const children: ChildProcess[] = [];
    const healths: (IdleHealth | undefined)[] = [];
    const reports: Promise<IdleSessionReport>[] = [];
    const watchdog = new Watchdog({ ...o, interval: true });
    for (let p = 0; p < n; p++) {
      const count = Math.floor(o.sessions / n) + (p < o.sessions % n ? 1 : 0);
      const addresses = o.addresses.filter((_, i) => i % n === p);
      // tsx's loader is inherited through execArgv: the child runs the .ts file as is.
      const child = fork(entry, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
      children.push(child);
      reports.push(
        new Promise((resolve, reject) => {
          watchdog.watch(p, child, reject);
          child.once("exit", (code) => reject(new Error(`idle worker ${p} exited with ${code}`)));
          child.on(
            "message",
            (m: {
              kind: string;
              opened?: number;
              report?: IdleSessionReport;
              health?: IdleHealth;
            }) => {
              watchdog.heard(p, m.opened);
              if (m.kind === "progress") o.log?.(`[idle ${p}] ${m.opened} sessions`);
              else if (m.kind === "health" && m.health) {
                healths[p] = m.health;
                o.health?.(p, m.health);
              } else if (m.kind === "opened" && m.report) {
                watchdog.done(p);
                resolve(m.report);
              }
            },
          );
        }),
      );
      child.send({
        kind: "open",
        options: {
          url: o.url,
          count,
          addresses: addresses.length > 0 ? addresses : [o.addresses[p % o.addresses.length]],
          userPrefix: `${o.userPrefix ?? "idle"}${p}-`,
          sessionsPerUser: o.sessionsPerUser ?? 1,
          pingMs: o.pingMs,
          concurrency: o.concurrency ?? 64,
          ...(o.deadline === undefined ? {} : { deadline: o.deadline }),
        },
      });
    }
    try {
      const all = await Promise.all(reports);
      const report: IdleSessionReport = { opened: 0, refused: {}, failed: 0, openS: 0 };
      for (const r of all) {
        report.opened += r.opened;
        report.failed += r.failed;
        report.openS = Math.max(report.openS, r.openS);
        for (const [k, v] of Object.entries(r.refused))
          report.refused[k] = (report.refused[k] ?? 0) + v;
      }
      return new IdleFleet(children, report, healths);
    } catch (e) {
      for (const c of children) c.kill("SIGKILL");
      throw e;
    } finally {
      watchdog.stop();
    }
  }

  /** Closes every session and ends the processes (killed if they take over `timeoutMs`). */
  async close(timeoutMs = 15_000): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
            c.removeAllListeners("exit");
            c.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            c.send({ kind: "close" });
          }),
      ),
    );
  }
}

/** Several processes' health as one (counts summed, delays the worst). */
export function sumHealth(all: readonly (IdleHealth | undefined)[]): IdleHealth {
  const out: IdleHealth = {
    open: 0,
    pings: 0,
    pingLateMs: {},
    pingLateMaxMs: 0,
    loopDelayP99Ms: 0,
    loopDelayMaxMs: 0,
    closed: {},
  };
  const add = (to: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) to[k] = (to[k] ?? 0) + v;
  };
  for (const h of all) {
    if (h === undefined) continue;
    out.open += h.open;
    out.pings += h.pings;
    add(out.pingLateMs, h.pingLateMs);
    add(out.closed, h.closed);
    out.pingLateMaxMs = Math.max(out.pingLateMaxMs, h.pingLateMaxMs);
    out.loopDelayP99Ms = Math.max(out.loopDelayP99Ms, h.loopDelayP99Ms);
    out.loopDelayMaxMs = Math.max(out.loopDelayMaxMs, h.loopDelayMaxMs);
  }
  return out;
}
