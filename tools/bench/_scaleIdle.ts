/**
 * Section `idle` of `pnpm bench scale` (issue 15): authenticated idle sessions on one hub
 * (kalandrad as a child process, WebSocket sessions from several processes and 127.0.0.x
 * source addresses, each pinging like the client core: loadgen/idleFleet.ts), the hub's
 * memory per idle session, and one active room's p99 with them connected, beside the same
 * room's p99 measured on the same hub before they connected (the same-run baseline).
 *
 * The hub's file-descriptor limit bounds the sessions one process can hold: `ulimit -n` is
 * 20,000 (soft = hard) on these machines, so the full run opens 18,000 (BENCH_IDLE_SESSIONS
 * to change it); 100,000 need a hub with `ulimit -n` above 100,000. Quick mode: 300.
 * Memory is the hub's RSS (/proc/<pid>/status) after the sessions settled, minus its RSS
 * before, per session. BENCH_IDLE_WT=N also opens N WebTransport (HTTP/2) idle sessions and
 * reports their memory apart (each is a TLS + HTTP/2 connection on both ends).
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

/** Resident memory of a process in KB (Linux). */
function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
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
  const pid = hub.child.pid ?? 0;
  let fleet: IdleFleet | undefined;
  let wt: { close(): void } | undefined;
  try {
    const before = await activeRoomP99(hub, 0, roomSeconds);
    await settle(1000);
    const rssBefore = rssKb(pid);
    log(`hub rss ${rssBefore} KB; opening ${sessions} idle sessions from ${processes} processes`);
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
    await settle(quick ? 1000 : 5000);
    const rssIdle = rssKb(pid);
    const opened = fleet.report.opened;
    const during = await activeRoomP99(hub, 1000, roomSeconds);
    const out: Record<string, number | string> = {
      idle_sessions: opened,
      idle_sessions_wanted: wanted,
      idle_transport: "websocket",
      idle_failed:
        fleet.report.failed + Object.values(fleet.report.refused).reduce((a, b) => a + b, 0),
      idle_open_s: round1(fleet.report.openS),
      idle_open_per_s: Math.round(opened / Math.max(0.001, fleet.report.openS)),
      hub_rss_mb: round1(rssIdle / 1024),
      hub_rss_mb_before: round1(rssBefore / 1024),
      rss_kb_per_idle_session: round1((rssIdle - rssBefore) / Math.max(1, opened)),
      active_room_p99_ms: during.p99,
      active_room_p99_ms_baseline: before.p99,
      active_room_delivered_all: String(during.delivered && before.delivered),
      ulimit_n: fdLimit,
      idle_processes: processes,
      idle_source_addresses: addresses.length,
    };
    if (wtSessions > 0) {
      const rss0 = rssKb(pid);
      wt = await openWebTransportIdle(hub, wtSessions);
      await settle(5000);
      out.wt_idle_sessions = wtSessions;
      out.wt_rss_kb_per_idle_session = round1((rssKb(pid) - rss0) / wtSessions);
    }
    return out;
  } finally {
    wt?.close();
    await fleet?.close();
    await hub.stop();
    for (const d of dirs) d.cleanup();
  }
}
