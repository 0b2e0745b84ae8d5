/**
 * Section `e2e` of `pnpm bench scale` (issue 15, "per-delivery cost"): the highest
 * aggregate rate at which kalandrad delivers every message to every member with p99 under
 * 100 ms, per transport, with today's bench e2e shape (10 rooms × 10 members, 100
 * connections); and the same-run ceiling, a bare fan-out server moving the same frames
 * with no Kalandra logic (tools/loadgen/bareFanout.ts).
 *
 * Rooms are made by real clients (MLS, one commit adding the members); the timed phase
 * sends signed APP_MESSAGE frames of a real message's size straight on each member's
 * connection (tools/loadgen/frameLoad.ts), so the load generator's cost per delivery is a
 * header read and the figure is the hub's: session verify, sequencing, fsync, ACK and
 * fan-out are all there. `pnpm bench e2e` keeps the path with real clients decrypting.
 *
 * One hub per transport for every step (steps of 4 s, 1 s in quick mode, after one
 * unmeasured step): the JIT is warm and setup is paid once.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Frame, Opcode } from "@kalandra/proto";
import { tempDir } from "@kalandra/test-support";
import { bareLinks } from "../loadgen/bareFanout.js";
import {
  type LeanRoom,
  leanIndex,
  runStep,
  type StepResult,
  searchPeak,
} from "../loadgen/frameLoad.js";
import { frontPids, spawnHub } from "../loadgen/hub.js";
import { openRooms } from "../loadgen/loadgen.js";

/**
 * `websocket-fronts`: the WebSocket transport with `server.websocket_fronts` (2 by default,
 * BENCH_SCALE_FRONTS): sockets in front processes, frames over IPC to the primary. Its
 * ceiling is plain WebSocket's (the bare server has no fronts), so it has no bare run.
 */
type Transport = "webtransport" | "websocket" | "websocket-fronts";
const TRANSPORTS: readonly Transport[] = ["webtransport", "websocket", "websocket-fronts"];
/** Quick mode (bench:smoke) skips the fronts' run: the idle section's quick run crosses fronts. */
const QUICK_TRANSPORTS: readonly Transport[] = ["webtransport", "websocket"];
const log = (s: string) => process.stderr.write(`[scale e2e] ${s}\n`);
const here = dirname(fileURLToPath(import.meta.url));
const UNLIMITED = {
  KALANDRA_LIMITS__CONNECTION_RATE: "10000000",
  KALANDRA_LIMITS__CONNECTION_BURST: "10000000",
  KALANDRA_LIMITS__DEVICE_RATE: "10000000",
  KALANDRA_LIMITS__DEVICE_BURST: "10000000",
};

interface Shape {
  rooms: number;
  members: number;
  durationMs: number;
  hubRates: number[];
  bareRates: number[];
}

/**
 * Knobs for profiling runs: BENCH_SCALE_RATES=1000,1500 (the hub's steps),
 * BENCH_SCALE_TRANSPORTS=websocket, BENCH_SCALE_BARE=0 (no ceiling run), BENCH_SCALE_HUB=0
 * (the ceiling only, with a 427-byte frame: a 100-character text message's),
 * BENCH_SCALE_HUB_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (node options of the hub).
 */
const env = process.env;
const listEnv = (v: string | undefined) => v?.split(",").filter(Boolean);

const shape = (quick: boolean): Shape => {
  const s = defaultShape(quick);
  const rates = listEnv(env.BENCH_SCALE_RATES)?.map(Number);
  return rates === undefined ? s : { ...s, hubRates: rates };
};

const defaultShape = (quick: boolean): Shape =>
  quick
    ? { rooms: 2, members: 3, durationMs: 1000, hubRates: [100, 200], bareRates: [200, 400] }
    : {
        rooms: 10,
        members: 10,
        durationMs: 4000,
        hubRates: [100, 200, 400, 700, 1000, 1500, 2000, 3000, 4000, 6000],
        bareRates: [500, 1000, 2000, 3000, 4500, 6000, 9000, 13000, 20000],
      };

/** The best passing step's figures (the last step's when none passed). */
function summary(prefix: string, r: { best: StepResult | undefined; steps: StepResult[] }) {
  const b = r.best ?? r.steps.at(-1);
  return {
    [`${prefix}_msgs_per_s_p99_under_100ms`]: r.best?.msgs_per_s ?? 0,
    [`${prefix}_deliveries_per_s`]: r.best?.deliveries_per_s ?? 0,
    [`${prefix}_p50_ms`]: b?.p50_ms ?? 0,
    [`${prefix}_p99_ms`]: b?.p99_ms ?? 0,
    [`${prefix}_server_cpu_us_per_delivery`]: b?.server_cpu_us_per_delivery ?? 0,
    [`${prefix}_server_main_thread_cpu_us_per_delivery`]:
      b?.server_main_thread_cpu_us_per_delivery ?? 0,
    [`${prefix}_loadgen_cpu_pct`]: b?.loadgen_cpu_pct ?? 0,
    [`${prefix}_steps`]: r.steps
      .map((s) => `${s.rate}:${s.msgs_per_s}/${s.p99_ms}ms${s.ok ? "" : "!"}`)
      .join(" "),
  };
}

/** kalandrad over one transport: rooms by real clients, then the lean steps. */
async function hubRun(t: Transport, s: Shape) {
  const dir = tempDir("bench-scale-e2e");
  const nodeArgs = env.BENCH_SCALE_HUB_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const fronts: Record<string, string> =
    t === "websocket-fronts" ? { KALANDRA_SERVER__WEBSOCKET_FRONTS: FRONTS } : {};
  const hub = await spawnHub(dir.path, { ...UNLIMITED, ...fronts }, [], nodeArgs);
  try {
    let frameBytes = 0;
    const rooms = await openRooms(
      {
        url: hub.url,
        certHash: hub.certHash,
        hubKey: hub.hubKey,
        websocketUrl: hub.websocket,
        transport: t === "webtransport" ? "webtransport" : "websocket",
        rooms: s.rooms,
        members: s.members,
        rate: 1,
        durationMs: 0,
        log,
      },
      new Map(),
      () => undefined,
    );
    // A real message's size: one text message through the clients (its echo is measured).
    const probe = rooms[0]?.members[1];
    if (probe !== undefined) {
      probe.tap = (f) => {
        const h = Frame.fromWire(f).header;
        if (h.opcode === Opcode.APP_MESSAGE) frameBytes = f.length;
        return false;
      };
      const { encodeEnvelope } = await import("@kalandra/client");
      const body = encodeEnvelope({
        t: "text",
        body: "x".repeat(100),
        id: new Uint8Array(16),
        sent_at: 0n,
      });
      await rooms[0]?.members[0]?.client.send(rooms[0].id, body);
      const until = Date.now() + 10_000;
      while (frameBytes === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      probe.tap = undefined;
    }
    const lean: LeanRoom[] = rooms.map((room) => ({
      roomId: room.id,
      epoch: room.members[0]?.client.room(room.id)?.epoch ?? 1n,
      members: room.members.map((m) => ({
        senderId: m.client.senderId,
        signer: m.client.signer,
        link: {
          send: (f) => m.conn.send(f),
          onFrame: (cb) => {
            m.tap = (f) => {
              if (leanIndex(f) < 0) return false;
              cb(f);
              return true;
            };
          },
          close: () => m.client.close(),
        },
      })),
    }));
    const pid = hub.child.pid as number;
    const opts = {
      durationMs: s.durationMs,
      ciphertextBytes: Math.max(64, frameBytes - 128 - 16),
      serverPid: pid,
      // The fronts' CPU is the hub's too (none without fronts).
      serverHelperPids: () => frontPids(pid),
      log: (x: string) => log(`${t} ${x}`),
    };
    const warm = await runStep(lean, { ...opts, rate: s.hubRates[0] ?? 100, first: 0 });
    log(`${t} warm-up ${JSON.stringify(warm)}`);
    const r = await searchPeak(lean, { ...opts, rates: s.hubRates, first: warm.sent });
    for (const room of rooms) for (const m of room.members) m.client.close();
    return { ...r, frameBytes };
  } finally {
    await hub.stop();
    dir.cleanup();
  }
}

/** The bare fan-out server as a child process (it shares the cores as the hub does). */
async function startBare() {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(here, "../loadgen/bareFanout.ts")],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  // The WebTransport library prints its own lines (no HTTP/3 binding): the JSON one is ours.
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const ready = out.split("\n").find((l) => l.startsWith("{") && l.endsWith("}"));
      if (ready !== undefined) resolve(ready);
    });
    child.on("exit", (c) => reject(new Error(`bare fan-out server exited with ${c}`)));
    setTimeout(() => reject(new Error("bare fan-out server not ready in 30 s")), 30_000).unref();
  }).catch((e: unknown) => {
    child.kill("SIGKILL");
    throw e;
  });
  const j = JSON.parse(line) as { ws_port: number; wt_port: number; cert_hash: string };
  return {
    child,
    server: {
      wsPort: j.ws_port,
      wtPort: j.wt_port,
      certHash: Uint8Array.from(Buffer.from(j.cert_hash, "hex")),
    },
  };
}

async function bareRun(t: "webtransport" | "websocket", s: Shape, frameBytes: number) {
  const { child, server } = await startBare();
  try {
    const links = await bareLinks(t, server, s.rooms, s.members);
    const lean: LeanRoom[] = links.map((members, i) => ({
      roomId: BigInt(i + 1),
      epoch: 1n,
      members: members.map((link, m) => ({ link, senderId: BigInt(m + 1) })),
    }));
    const pid = child.pid as number;
    const opts = {
      durationMs: s.durationMs,
      ciphertextBytes: Math.max(64, frameBytes - 128 - 16),
      serverPid: pid,
      log: (x: string) => log(`bare ${t} ${x}`),
    };
    const warm = await runStep(lean, { ...opts, rate: s.bareRates[0] ?? 100, first: 0 });
    log(`bare ${t} warm-up ${JSON.stringify(warm)}`);
    const r = await searchPeak(lean, { ...opts, rates: s.bareRates, first: warm.sent });
    for (const row of links) for (const l of row) l.close();
    return r;
  } finally {
    child.kill("SIGTERM");
  }
}

const SHORT: Record<Transport, string> = {
  webtransport: "wt",
  websocket: "ws",
  "websocket-fronts": "wsf",
};
const FRONTS = env.BENCH_SCALE_FRONTS ?? "2";

/** Section `e2e`: per transport, kalandrad's peak under the p99 goal and the bare ceiling. */
export async function scaleE2e(quick: boolean): Promise<Record<string, number | string>> {
  const s = shape(quick);
  const out: Record<string, number | string> = {
    e2e_rooms: s.rooms,
    e2e_members_per_room: s.members,
    e2e_connections: s.rooms * s.members,
  };
  const transports =
    (listEnv(env.BENCH_SCALE_TRANSPORTS) as Transport[] | undefined) ??
    (quick ? QUICK_TRANSPORTS : TRANSPORTS);
  for (const t of transports) {
    const hub =
      env.BENCH_SCALE_HUB === "0"
        ? { best: undefined, steps: [], frameBytes: 427 }
        : await hubRun(t, s);
    const k = SHORT[t];
    Object.assign(out, summary(`e2e_${k}`, hub));
    out[`e2e_${k}_frame_bytes`] = hub.frameBytes;
    if (t === "websocket-fronts") {
      out.e2e_wsf_fronts = Number(FRONTS);
      continue;
    }
    const bare =
      env.BENCH_SCALE_BARE === "0"
        ? { best: undefined, steps: [] }
        : await bareRun(t, s, hub.frameBytes);
    Object.assign(out, summary(`bare_${k}`, bare));
    out[`bare_fanout_deliveries_per_s_${k}`] = bare.best?.deliveries_per_s ?? 0;
    const ceiling = bare.best?.deliveries_per_s ?? 0;
    out[`e2e_${k}_share_of_bare`] =
      ceiling === 0 ? 0 : Math.round(((hub.best?.deliveries_per_s ?? 0) / ceiling) * 1000) / 1000;
  }
  // Fronts against the in-process listener, same run: what the IPC hop costs.
  const ws = Number(out.e2e_ws_msgs_per_s_p99_under_100ms ?? 0);
  if (out.e2e_wsf_msgs_per_s_p99_under_100ms !== undefined && ws > 0) {
    out.e2e_wsf_share_of_ws =
      Math.round((Number(out.e2e_wsf_msgs_per_s_p99_under_100ms) / ws) * 1000) / 1000;
  }
  const best = (k: (t: string) => string) =>
    Math.max(0, ...transports.map((t) => Number(out[k(SHORT[t])] ?? 0)));
  out.e2e_msgs_per_s_p99_under_100ms = best((k) => `e2e_${k}_msgs_per_s_p99_under_100ms`);
  out.bare_fanout_deliveries_per_s = best((k) => `bare_fanout_deliveries_per_s_${k}`);
  return out;
}
