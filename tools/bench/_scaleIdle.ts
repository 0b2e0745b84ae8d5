/**
 * Section `idle` of `pnpm bench scale` (issue 15): authenticated idle sessions on one hub
 * (kalandrad as a child process, WebSocket sessions from several processes and 127.0.0.x
 * source addresses, each pinging like the client core: loadgen/idleFleet.ts), the hub's
 * memory per idle session, and one active room's p99 with them connected, beside the same
 * room's p99 measured on the same hub before they connected and after they closed (the
 * same-run baselines).
 *
 * The hub's file-descriptor limit bounds the sessions one process can hold: `ulimit -n` is
 * 20,000 (soft = hard) on these machines, so the full run opens 18,000 (BENCH_IDLE_SESSIONS
 * to change it); 100,000 need a hub with `ulimit -n` above 100,000. Quick mode: 300.
 * Memory is the hub's RSS (/proc/<pid>/status, median of five samples) after the sessions
 * settled minus before, per session, with its anonymous part and the V8 heap in use (from
 * /metrics). BENCH_IDLE_WT=N also opens N WebTransport (HTTP/2) idle sessions and reports
 * their memory apart (each is a TLS + HTTP/2 connection on both ends).
 */
import { readFileSync } from "node:fs";
import { connectWebTransport } from "@kalandra/client";
import { generateDeviceKey, systemRng } from "@kalandra/proto";
import { type TempDir, tempDir } from "@kalandra/test-support";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { IdleFleet, loopbackAddresses } from "../loadgen/idleFleet.js";
import { runLoad } from "../loadgen/loadgen.js";

const log = (s: string) => process.stderr.write(`[scale idle] ${s}\n`);
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Resident memory of a process in KB (Linux): all of it, and its anonymous part. */
function memoryKb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: field("VmRSS"), anon: field("RssAnon") };
}

/**
 * The hub's memory once settled: the median of five samples a second apart (garbage
 * collection moves single readings by megabytes), and its V8 heap in use from /metrics.
 */
async function settledMemory(hub: SpawnedHub) {
  const samples: { rss: number; anon: number }[] = [];
  for (let i = 0; i < 5; i++) {
    await settle(1000);
    samples.push(memoryKb(hub.child.pid ?? 0));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const metrics = await (await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`)).text();
  const heap = /^kalandra_process_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics);
  return {
    rss: median(samples.map((s) => s.rss)),
    anon: median(samples.map((s) => s.anon)),
    heapKb: Number(heap?.[1] ?? Number.NaN) / 1024,
  };
}

/** The soft limit on open files of this process (what a hub started from here gets). */
function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** p99 of one small active room (10 members over WebTransport) for `seconds`. */
async function activeRoomP99(hub: SpawnedHub, roomOffset: number, seconds: number) {
  const r = await runLoad({
    url: hub.url,
    certHash: hub.certHash,
    hubKey: hub.hubKey,
    rooms: 1,
    members: 10,
    rate: 20,
    durationMs: seconds * 1000,
    roomOffset,
  });
  return { p99: r.p99_ms, delivered: r.delivered === r.expected_deliveries };
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

export async function scaleIdle(quick: boolean): Promise<Record<string, number | string>> {
  const fdLimit = openFileLimit();
  const wanted = quick ? 300 : Number(process.env.BENCH_IDLE_SESSIONS ?? 18_000);
  // Keep ~1000 descriptors for LMDB, listeners, the active room and the hub's own files.
  const sessions = Math.max(1, Math.min(wanted, fdLimit - 1000));
  const perIp = 1000;
  const addresses = loopbackAddresses(Math.ceil(sessions / perIp) + 1);
  const processes = quick ? 2 : Math.max(2, Math.ceil(sessions / 6000));
  const wtSessions = quick ? 0 : Number(process.env.BENCH_IDLE_WT ?? 0);
  const roomSeconds = quick ? 3 : 15;
  const dirs: TempDir[] = [];
  const dir = tempDir("bench-scale-idle");
  dirs.push(dir);
  const hub = (await spawnHub(dir.path, {
    KALANDRA_LIMITS__MAX_CONNECTIONS: String(sessions + wtSessions + 1000),
    KALANDRA_LIMITS__MAX_CONNECTIONS_PER_IP: String(perIp),
  })) as SpawnedHub & { websocket: string };
  let fleet: IdleFleet | undefined;
  let wt: { close(): void } | undefined;
  try {
    const before = await activeRoomP99(hub, 0, roomSeconds);
    const memBefore = await settledMemory(hub);
    log(
      `hub ${JSON.stringify(memBefore)} KB; opening ${sessions} idle sessions from ${processes} processes`,
    );
    fleet = await IdleFleet.start({
      url: hub.websocket,
      sessions,
      processes,
      addresses,
      pingMs: 45_000,
      concurrency: 32,
      log,
    });
    log(`opened ${JSON.stringify(fleet.report)}`);
    const memIdle = await settledMemory(hub);
    log(`hub ${JSON.stringify(memIdle)} KB with the idle sessions`);
    const opened = fleet.report.opened;
    const perSession = (after: number, before: number) =>
      round1((after - before) / Math.max(1, opened));
    const during = await activeRoomP99(hub, 1000, roomSeconds);
    const out: Record<string, number | string> = {
      idle_sessions: opened,
      idle_sessions_wanted: wanted,
      idle_transport: "websocket",
      idle_failed:
        fleet.report.failed + Object.values(fleet.report.refused).reduce((a, b) => a + b, 0),
      idle_open_s: round1(fleet.report.openS),
      idle_open_per_s: Math.round(opened / Math.max(0.001, fleet.report.openS)),
      hub_rss_mb: round1(memIdle.rss / 1024),
      hub_rss_mb_before: round1(memBefore.rss / 1024),
      rss_kb_per_idle_session: perSession(memIdle.rss, memBefore.rss),
      anon_rss_kb_per_idle_session: perSession(memIdle.anon, memBefore.anon),
      heap_kb_per_idle_session: perSession(memIdle.heapKb, memBefore.heapKb),
      active_room_p99_ms: during.p99,
      active_room_p99_ms_baseline: before.p99,
      active_room_delivered_all: String(during.delivered && before.delivered),
      ulimit_n: fdLimit,
      idle_processes: processes,
      idle_source_addresses: addresses.length,
    };
    // The same room once they are gone: the machine's noise, measured around the figure.
    await fleet.close();
    fleet = undefined;
    out.active_room_p99_ms_after_close = (await activeRoomP99(hub, 2000, roomSeconds)).p99;
    if (wtSessions > 0) {
      const wt0 = await settledMemory(hub);
      wt = await openWebTransportIdle(hub, wtSessions);
      const wt1 = await settledMemory(hub);
      out.wt_idle_sessions = wtSessions;
      out.wt_rss_kb_per_idle_session = round1((wt1.rss - wt0.rss) / wtSessions);
      out.wt_heap_kb_per_idle_session = round1((wt1.heapKb - wt0.heapKb) / wtSessions);
    }
    return out;
  } finally {
    wt?.close();
    await fleet?.close();
    await hub.stop();
    for (const d of dirs) d.cleanup();
  }
}
