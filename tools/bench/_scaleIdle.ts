/**
 * Section `idle` of `pnpm bench scale` (issue 15): authenticated idle sessions on one hub
 * (kalandrad as a child process, WebSocket sessions from several processes and 127.0.0.x
 * source addresses, each pinging like the client core: loadgen/idleFleet.ts), the hub's
 * memory per idle session, the hub's CPU for their keep-alive, and one active room's p99
 * with them connected, beside the same room's p99 measured on the same hub before they
 * connected and after they closed (the same-run baselines).
 *
 * `ulimit -n` is 20,000 (soft = hard) on these machines, so one process holds at most
 * ~19,000 sockets. The hub therefore runs WebSocket front processes
 * (`server.websocket_fronts`, ≤ 15,000 sessions each): the full run opens 100,000 sessions
 * through 7 fronts, the client side spread over 7 processes (each < 20,000 sockets) and 105
 * source addresses (at most 1,000 per address, the hub's `max_connections_per_ip` in this run).
 * The hub's memory is the sum over the primary and its fronts (/proc/<pid>/status, median
 * of five samples a second apart), after the sessions settled minus before, per session,
 * with the primary's and the fronts' parts and the primary's V8 heap (/metrics) apart.
 * Keep-alive CPU: the primary's and the fronts' CPU over a window with only the idle
 * sessions' keep-alive, per client PING answered. Without fronts each session PINGs every
 * 45 s (the hub's own interval is 60 s, so it never pings them); through fronts the hub
 * asks for a PING every 120 s (AUTH_OK ping_ms) and its fronts send WebSocket ping frames
 * after 60 s of silence, which ws answers.
 *
 * Knobs: BENCH_IDLE_PING_MS (the client's interval, default 45 s; shorter stresses
 * keep-alive at fewer sessions, the hub's periods scaled with it), BENCH_IDLE_CLIENT_PING_MS
 * (what the hub asks for through fronts, default 8/3 of it; 0 = nothing asked),
 * BENCH_IDLE_SESSIONS (default 100,000; quick 300), BENCH_IDLE_FRONTS (default one
 * per 15,000 sessions; quick 2; 0 = in-process listener, then capped by `ulimit -n`),
 * BENCH_IDLE_OPEN_S (bound on the open phase, default 900 s; what opened by then is
 * measured), BENCH_IDLE_WT=N (N WebTransport idle sessions measured apart). The machine's
 * load average is reported at the start and end: latencies on a loaded machine are noise.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { connectWebTransport } from "@kalandra/client";
import { generateDeviceKey, systemRng } from "@kalandra/proto";
import { type TempDir, tempDir } from "@kalandra/test-support";
import { procCpuSeconds } from "../loadgen/frameLoad.js";
import { frontPids, type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { IdleFleet, loopbackAddresses, sumHealth } from "../loadgen/idleFleet.js";
import { type IdleHealth, IdleSessions } from "../loadgen/idleSessions.js";
import { runLoad } from "../loadgen/loadgen.js";
import { pauseFigures, withHubPauses } from "./_hubPauses.js";

const log = (s: string) => process.stderr.write(`[scale idle] ${s}\n`);
const round1 = (x: number) => Math.round(x * 10) / 10;
/** Sessions per front process and per load process: well under `ulimit -n` (20,000). */
const PER_PROCESS = 15_000;
/** Each session's PING interval (the client core's), under the hub's 60 s. */
const PING_MS = 45_000;

/**
 * Hub figures from /metrics (the primary's): sessions open, authenticated and closed as
 * silent so far, and the primary's event-loop delay. Empty when the hub does not answer.
 */
async function hubCounters(hub: SpawnedHub): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`)).text();
    const read = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1]);
    return {
      open: read("kalandra_connections_active"),
      authenticated: read("kalandra_sessions_authenticated_total"),
      idle_closed: read("kalandra_sessions_idle_closed_total"),
      loop_p99_ms: round1(read("kalandra_process_nodejs_eventloop_lag_p99_seconds") * 1000),
      loop_max_ms: round1(read("kalandra_process_nodejs_eventloop_lag_max_seconds") * 1000),
      front_pongs: read("kalandra_websocket_front_pongs_total"),
    };
  } catch {
    return {};
  }
}

/** Resident memory of a process in KB (Linux): all of it, and its anonymous part. */
function memoryKb(pid: number): { rss: number; anon: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1]);
    return { rss: field("VmRSS"), anon: field("RssAnon") };
  } catch {
    return { rss: 0, anon: 0 }; // exited meanwhile
  }
}

/** The hub's memory now: the primary's, and its fronts' summed. */
function hubMemoryKb(pid: number) {
  const primary = memoryKb(pid);
  const fronts = frontPids(pid).map(memoryKb);
  const sum = (k: "rss" | "anon") => fronts.reduce((t, m) => t + m[k], 0);
  return {
    primary: primary.rss,
    fronts: sum("rss"),
    rss: primary.rss + sum("rss"),
    anon: primary.anon + sum("anon"),
  };
}

type HubMemory = ReturnType<typeof hubMemoryKb> & { heapKb: number };

/**
 * The hub's memory once settled: the median of five samples a second apart (garbage
 * collection moves single readings by megabytes), and the primary's V8 heap in use.
 */
async function settledMemory(hub: SpawnedHub): Promise<HubMemory> {
  const samples: ReturnType<typeof hubMemoryKb>[] = [];
  for (let i = 0; i < 5; i++) {
    await settle(1000);
    samples.push(hubMemoryKb(hub.child.pid ?? 0));
  }
  const median = (k: keyof (typeof samples)[number]) =>
    samples.map((s) => s[k]).sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? 0;
  const metrics = await (await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`)).text();
  const heap = /^kalandra_process_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics);
  return {
    primary: median("primary"),
    fronts: median("fronts"),
    rss: median("rss"),
    anon: median("anon"),
    heapKb: Number(heap?.[1] ?? Number.NaN) / 1024,
  };
}

/** The soft limit on open files of this process (what a hub started from here gets). */
function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * p99 of one small active room (10 members, 20 msg/s) for `seconds`: over WebSocket (through
 * the fronts, beside the idle sessions) when the hub has fronts, else over WebTransport.
 * Bounded: a room not measured within `seconds` + 120 s fails with that said.
 */
async function activeRoomP99(
  hub: SpawnedHub,
  roomOffset: number,
  seconds: number,
  websocket: boolean,
) {
  const run = runLoad({
    url: hub.url,
    certHash: hub.certHash,
    hubKey: hub.hubKey,
    ...(websocket ? { transport: "websocket" as const, websocketUrl: hub.websocket } : {}),
    rooms: 1,
    members: 10,
    rate: 20,
    durationMs: seconds * 1000,
    roomOffset,
    connectTimeoutMs: 60_000,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`active room ${roomOffset} not measured within ${seconds + 120} s`)),
      (seconds + 120) * 1000,
    );
  });
  try {
    const r = await Promise.race([run, bound]);
    return { p99: r.p99_ms, delivered: r.delivered === r.expected_deliveries };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long a new session's handshake takes with the idle sessions connected: 20 in a row
 * from 127.0.0.1 (ms, median and worst), each bounded to 30 s (NaN when one failed).
 */
async function handshakeProbe(url: string): Promise<{ p50: number; max: number }> {
  const times: number[] = [];
  const s = new IdleSessions();
  try {
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = await s.open({
        url,
        count: 1,
        addresses: ["127.0.0.1"],
        userPrefix: `probe${i}-`,
        pingMs: 0,
        concurrency: 1,
        handshakeTimeoutMs: 30_000,
      });
      times.push(r.opened === 1 ? performance.now() - t0 : Number.NaN);
    }
  } finally {
    await s.close(5000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const bad = times.some(Number.isNaN);
  return {
    p50: bad ? Number.NaN : round1(sorted[10] ?? Number.NaN),
    max: bad ? Number.NaN : round1(sorted.at(-1) ?? Number.NaN),
  };
}

/** CPU the primary and the fronts use over `seconds` with nothing but the idle sessions. */
async function keepaliveCpu(pid: number, seconds: number) {
  const fronts = frontPids(pid);
  const cpu = () => ({
    primary: procCpuSeconds(pid),
    fronts: fronts.reduce((t, p) => t + procCpuSeconds(p), 0),
  });
  const a = cpu();
  const t0 = performance.now();
  await settle(seconds * 1000);
  const b = cpu();
  const s = (performance.now() - t0) / 1000;
  return { primaryS: b.primary - a.primary, frontsS: b.fronts - a.fronts, seconds: s };
}

/** Idle sessions over WebTransport: each a client connection (TLS + HTTP/2) of its own. */
async function openWebTransportIdle(hub: SpawnedHub, count: number) {
  const conns: { close(): void }[] = [];
  for (let i = 0; i < count; i++) {
    const key = generateDeviceKey(systemRng);
    conns.push(
      await connectWebTransport({
        url: hub.url,
        certHash: hub.certHash,
        deviceSigner: key.signer,
        userId: `wt-idle-${i}`,
        hubPublicKey: hub.hubKey,
      }),
    );
  }
  return {
    close: () => {
      for (const c of conns) c.close();
    },
  };
}

/** How many sessions, fronts and load processes this run uses. */
function plan(quick: boolean) {
  const fdLimit = openFileLimit();
  const wanted = quick ? 300 : Number(process.env.BENCH_IDLE_SESSIONS ?? 100_000);
  const fronts = Number(
    process.env.BENCH_IDLE_FRONTS ?? (quick ? 2 : Math.ceil(wanted / PER_PROCESS)),
  );
  // Keep ~1000 descriptors per holder for LMDB, listeners, the active room and its files.
  const holders = Math.max(1, fronts);
  const sessions = Math.max(1, Math.min(wanted, holders * (fdLimit - 1000)));
  const perIp = 1000;
  const pingMs = Number(process.env.BENCH_IDLE_PING_MS ?? PING_MS);
  const processes = quick ? 2 : Math.max(2, Math.ceil(sessions / PER_PROCESS));
  // Each process uses its own addresses (every processes-th): enough for its share at
  // `perIp` each. (101 addresses for 100,000 sessions over 7 processes left four of them 14
  // addresses, 14,000 sessions, for shares of 14,286: the rest refused.)
  const perProcessAddresses = Math.ceil(Math.ceil(sessions / processes) / perIp);
  return {
    fdLimit,
    wanted,
    fronts,
    sessions,
    perIp,
    addresses: loopbackAddresses(processes * perProcessAddresses),
    processes,
    wtSessions: quick ? 0 : Number(process.env.BENCH_IDLE_WT ?? 0),
    roomSeconds: quick ? 3 : 15,
    // Node options for the hub's primary (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"): profiles.
    hubNodeArgs: (process.env.BENCH_IDLE_HUB_NODE_ARGS ?? "").split(" ").filter(Boolean),
    cpuSeconds: quick ? 3 : 30,
    openS: quick ? 60 : Number(process.env.BENCH_IDLE_OPEN_S ?? 900),
    // A shorter interval stresses keep-alive as more sessions would (the hub's interval and
    // idle timeout scaled with it): 9 s at 20,000 sessions PINGs as often as 45 s at 100,000.
    pingMs,
    // Through fronts the hub keeps sessions alive with ping frames, so it may ask its clients
    // for fewer PINGs (AUTH_OK ping_ms, limits.client_ping_interval_ms): 120 s against the
    // client's 45 s by default (0 = not asked: every 45 s).
    clientPingMs:
      fronts > 0
        ? Number(process.env.BENCH_IDLE_CLIENT_PING_MS ?? Math.round((pingMs * 8) / 3))
        : 0,
  };
}

export async function scaleIdle(quick: boolean): Promise<Record<string, number | string>> {
  const p = plan(quick);
  const load0 = loadavg()[0] ?? 0;
  const dirs: TempDir[] = [];
  const dir = tempDir("bench-scale-idle");
  dirs.push(dir);
  const hub = await spawnHub(
    dir.path,
    {
      KALANDRA_LIMITS__MAX_CONNECTIONS: String(p.sessions + p.wtSessions + 1000),
      KALANDRA_LIMITS__MAX_CONNECTIONS_PER_IP: String(p.perIp),
      KALANDRA_SERVER__WEBSOCKET_FRONTS: String(p.fronts),
      KALANDRA_LIMITS__CLIENT_PING_INTERVAL_MS: String(p.clientPingMs),
      ...(p.pingMs === PING_MS
        ? {}
        : {
            KALANDRA_LIMITS__KEEPALIVE_INTERVAL_MS: String(Math.round((p.pingMs * 4) / 3)),
            KALANDRA_LIMITS__IDLE_TIMEOUT_MS: String(Math.round((p.pingMs * 10) / 3)),
          }),
    },
    [],
    p.hubNodeArgs,
  );
  const pid = hub.child.pid ?? 0;
  let fleet: IdleFleet | undefined;
  let wt: { close(): void } | undefined;
  try {
    const { result: before, pauses: pausesBefore } = await withHubPauses(hub, () =>
      activeRoomP99(hub, 0, p.roomSeconds, p.fronts > 0),
    );
    const memBefore = await settledMemory(hub);
    log(
      `hub ${JSON.stringify(memBefore)} KB (${frontPids(pid).length} fronts); opening ${p.sessions} idle sessions from ${p.processes} processes, ${p.addresses.length} addresses, at most ${p.openS} s`,
    );
    // Every 30 s: how the load processes keep their sessions and what the hub sees.
    const healths: IdleHealth[] = [];
    const watch = setInterval(async () => {
      log(
        `keep-alive ${JSON.stringify(sumHealth(healths))} hub ${JSON.stringify(await hubCounters(hub))}`,
      );
    }, 30_000);
    watch.unref();
    try {
      fleet = await IdleFleet.start({
        url: hub.websocket,
        sessions: p.sessions,
        processes: p.processes,
        addresses: p.addresses,
        pingMs: p.pingMs,
        concurrency: 32,
        deadline: Date.now() + p.openS * 1000,
        log,
        health: (i, h) => {
          healths[i] = h;
        },
      });
    } finally {
      clearInterval(watch);
    }
    log(`opened ${JSON.stringify(fleet.report)}`);
    const memIdle = await settledMemory(hub);
    log(`hub ${JSON.stringify(memIdle)} KB with the idle sessions`);
    const opened = fleet.report.opened;
    const perSession = (after: number, before: number) =>
      round1((after - before) / Math.max(1, opened));
    const cpu = await keepaliveCpu(pid, p.cpuSeconds);
    const pings = (opened * cpu.seconds * 1000) / Math.max(p.pingMs, p.clientPingMs);
    const health = fleet.health();
    const counters = await hubCounters(hub);
    log(`keep-alive ${JSON.stringify(health)} hub ${JSON.stringify(counters)}`);
    const probe = await handshakeProbe(hub.websocket);
    log(`a new session's handshake with them connected: ${JSON.stringify(probe)}`);
    // A room that cannot be measured leaves the figures above standing, with its error.
    const { result: during, pauses } = await withHubPauses(hub, () =>
      activeRoomP99(hub, 1000, p.roomSeconds, p.fronts > 0).catch((e: unknown) => ({
        p99: Number.NaN,
        delivered: false,
        error: String(e),
      })),
    );
    const out: Record<string, number | string> = {
      idle_sessions: opened,
      idle_sessions_wanted: p.wanted,
      idle_transport: p.fronts > 0 ? "websocket (front processes)" : "websocket",
      idle_fronts: p.fronts,
      idle_failed:
        fleet.report.failed + Object.values(fleet.report.refused).reduce((a, b) => a + b, 0),
      idle_open_s: round1(fleet.report.openS),
      idle_open_per_s: Math.round(opened / Math.max(0.001, fleet.report.openS)),
      hub_rss_mb: round1(memIdle.rss / 1024),
      hub_rss_mb_before: round1(memBefore.rss / 1024),
      hub_primary_rss_mb: round1(memIdle.primary / 1024),
      hub_fronts_rss_mb: round1(memIdle.fronts / 1024),
      rss_kb_per_idle_session: perSession(memIdle.rss, memBefore.rss),
      primary_rss_kb_per_idle_session: perSession(memIdle.primary, memBefore.primary),
      fronts_rss_kb_per_idle_session: perSession(memIdle.fronts, memBefore.fronts),
      anon_rss_kb_per_idle_session: perSession(memIdle.anon, memBefore.anon),
      primary_heap_kb_per_idle_session: perSession(memIdle.heapKb, memBefore.heapKb),
      keepalive_cpu_pct_primary: round1((cpu.primaryS / cpu.seconds) * 100),
      keepalive_cpu_pct_fronts: round1((cpu.frontsS / cpu.seconds) * 100),
      keepalive_cpu_us_per_ping: Math.round(
        ((cpu.primaryS + cpu.frontsS) / Math.max(1, pings)) * 1e6,
      ),
      active_room_p99_ms: during.p99,
      ...("error" in during ? { active_room_error: during.error } : {}),
      handshake_ms_with_sessions_p50: probe.p50,
      handshake_ms_with_sessions_max: probe.max,
      active_room_p99_ms_baseline: before.p99,
      active_room_delivered_all: String(during.delivered && before.delivered),
      active_room_transport: p.fronts > 0 ? "websocket (front processes)" : "webtransport",
      idle_ping_ms: Math.max(p.pingMs, p.clientPingMs),
      idle_closed_silent: counters.idle_closed ?? Number.NaN,
      // Client PINGs the fronts answered without the primary so far (websocket/frontPings.ts).
      idle_front_pongs: counters.front_pongs ?? Number.NaN,
      idle_closed_seen_by_load: Object.values(health.closed).reduce((a, b) => a + b, 0),
      idle_ping_late_max_ms: health.pingLateMaxMs,
      idle_load_loop_delay_max_ms: health.loopDelayMaxMs,
      hub_loop_lag_p99_ms: counters.loop_p99_ms ?? Number.NaN,
      ...pauseFigures(pauses, ""),
      ...pauseFigures(pausesBefore, "_baseline"),
      ulimit_n: p.fdLimit,
      idle_processes: p.processes,
      idle_source_addresses: p.addresses.length,
    };
    // The same room once they are gone: the machine's noise, measured around the figure.
    await fleet.close();
    fleet = undefined;
    const { result: after, pauses: pausesAfter } = await withHubPauses(hub, () =>
      activeRoomP99(hub, 2000, p.roomSeconds, p.fronts > 0).catch(() => ({ p99: Number.NaN })),
    );
    out.active_room_p99_ms_after_close = after.p99;
    Object.assign(out, pauseFigures(pausesAfter, "_after_close"));
    if (p.wtSessions > 0) {
      const wt0 = await settledMemory(hub);
      wt = await openWebTransportIdle(hub, p.wtSessions);
      const wt1 = await settledMemory(hub);
      out.wt_idle_sessions = p.wtSessions;
      out.wt_rss_kb_per_idle_session = round1((wt1.rss - wt0.rss) / p.wtSessions);
      out.wt_heap_kb_per_idle_session = round1((wt1.heapKb - wt0.heapKb) / p.wtSessions);
    }
    out.idle_loadavg_1m_start = round1(load0);
    out.idle_loadavg_1m_end = round1(loadavg()[0] ?? 0);
    return out;
  } finally {
    wt?.close();
    await fleet?.close();
    await hub.stop();
    for (const d of dirs) d.cleanup();
  }
}
