/**
 * `pnpm bench e2e`: kalandrad as a child process, real clients (MLS + sender keys) over
 * WebTransport (BENCH_E2E_TRANSPORT=websocket: over the hub's WebSocket listener). Steps up the aggregate message rate and reports the highest rate at which
 * every message reached every member with p99 end-to-end latency under 100 ms (DESIGN
 * goal), plus the latency at that rate.
 *
 * Baseline (same process, same machine): the transport floor — round trips of a 100-byte
 * frame through kalandrad's echo core over one WebTransport session.
 *
 * Full mode also runs a session soak over one session (echo core), reporting frames/s and
 * whether it completed: 100,000 frames (~100 MB, ~35 s) so the whole run stays within ~5
 * minutes; BENCH_SOAK_FRAMES=1000000 runs the 1,000,000-frame / ~1 GB soak (~6 min more).
 * BENCH_QUICK=1 is a seconds-long smoke. BENCH_E2E_AUTH=oidc runs the hub with OpenID
 * Connect authentication (a stand-in issuer, loadgen/benchIssuer.ts): every device presents
 * a JWT the hub verifies once, when it binds the device (issue 12: figures unchanged within
 * noise with authentication on).
 *
 * Each rate step also reports where the time went: the load generator's stage split
 * (loadgen.ts `stages`), the hub's request → response time (sequencing, fsync, ACK) from its
 * /metrics histogram, both processes' event-loop delay and CPU, and the machine's load
 * average (the hub, 100 client cores and anything else running share two cores).
 */

import { loadavg } from "node:os";
import { connectWebTransport } from "@kalandra/client";
import { encodeFrame, encodePayload, generateDeviceKey, Opcode, systemRng } from "@kalandra/proto";
import { createBenchIssuer } from "../loadgen/benchIssuer.js";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { type LoadResult, percentile, runLoad } from "../loadgen/loadgen.js";
import { benchDir, benchLog, cleanupBenchDirs, UNLIMITED_RATES } from "./_benchEnv.js";

const quick = process.env.BENCH_QUICK === "1";
const log = benchLog("e2e");
const tmp = () => benchDir("e2e");
const unlimited = UNLIMITED_RATES;

/** Echo-core round trips (transport floor) and, in full mode, the 1M-frame soak. */
async function transportFloor(roundTrips: number, soakFrames: number) {
  const hub = await spawnHub(tmp(), unlimited, ["--core", "echo"]);
  try {
    const key = generateDeviceKey(systemRng);
    const conn = await connectWebTransport({
      url: hub.url,
      certHash: hub.certHash,
      deviceSigner: key.signer,
      userId: "bench",
      hubPublicKey: hub.hubKey,
    });
    const frame = (requestId: number, bytes: number) =>
      encodeFrame(
        {
          opcode: Opcode.APP_MESSAGE,
          requestId,
          roomId: 1n,
          senderId: key.senderId,
          epoch: 0n,
          payload: encodePayload(Opcode.APP_MESSAGE, {
            generation: 0,
            ciphertext: new Uint8Array(bytes),
          }),
        },
        key.signer,
      );
    let received = 0;
    let bytesIn = 0;
    let waiter: (() => void) | undefined;
    conn.onFrame((f) => {
      received++;
      bytesIn += f.length;
      waiter?.();
    });
    const rtts: number[] = [];
    for (let i = 0; i < roundTrips; i++) {
      const t = performance.now();
      const target = received + 1;
      await new Promise<void>((r) => {
        waiter = () => received >= target && r();
        conn.send(frame(i, 100));
      });
      rtts.push(performance.now() - t);
    }
    rtts.sort((a, b) => a - b);
    let soak:
      | { frames: number; mb: number; s: number; frames_per_s: number; complete: boolean }
      | undefined;
    if (soakFrames > 0) {
      const distinct = Array.from({ length: 64 }, (_, i) => frame(1000 + i, 950));
      const start = received;
      const startBytes = bytesIn;
      const t0 = performance.now();
      const deadline = t0 + 900_000;
      let sent = 0;
      while (sent < soakFrames && performance.now() < deadline) {
        const n = Math.min(500, soakFrames - sent);
        for (let j = 0; j < n; j++) conn.send(distinct[(sent + j) % 64] as Uint8Array);
        sent += n;
        while (sent - (received - start) > 5000 && performance.now() < deadline)
          await new Promise((r) => setTimeout(r, 2));
        if (sent % 100_000 === 0) log(`soak ${sent} frames`);
      }
      while (received - start < soakFrames && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      const s = (performance.now() - t0) / 1000;
      const frames = received - start;
      soak = {
        frames,
        mb: Math.round((bytesIn - startBytes) / 1048576),
        s: Math.round(s * 10) / 10,
        frames_per_s: Math.round(frames / s),
        complete: frames === soakFrames && conn.connections === 1,
      };
    }
    conn.close();
    return { p50: percentile(rtts, 50), p99: percentile(rtts, 99), soak };
  } finally {
    await hub.stop();
  }
}

/** The hub's own view of a run, from its /metrics endpoint. */
async function hubView(hub: SpawnedHub, cpuBefore: number, seconds: number) {
  const text = await (await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`)).text();
  const value = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? 0 : Number(line.split(" ")[1]);
  };
  // Upper bound of the bucket holding the p-th percentile of request → response (ms).
  const buckets = text
    .split("\n")
    .filter((l) => l.startsWith("kalandra_storage_append_seconds_bucket"))
    .map((l) => {
      const le = /le="([^"]+)"/.exec(l)?.[1] ?? "+Inf";
      return { le: le === "+Inf" ? Infinity : Number(le), n: Number(l.split(" ")[1]) };
    });
  const total = buckets.at(-1)?.n ?? 0;
  const upTo = (p: number) => {
    const b = buckets.find((x) => x.n >= (p / 100) * total);
    return b === undefined ? 0 : b.le * 1000;
  };
  const cpu = value("kalandra_process_process_cpu_seconds_total");
  return {
    cpu_s: cpu,
    /** Hub CPU (all threads) spent during the send phase, in seconds. */
    cpu_run_s: cpu - cpuBefore,
    cpu_pct: Math.round(((cpu - cpuBefore) / seconds) * 1000) / 10,
    request_to_response_p50_le_ms: upTo(50),
    request_to_response_p99_le_ms: upTo(99),
    event_loop_lag_p99_ms:
      Math.round(value("kalandra_process_nodejs_eventloop_lag_p99_seconds") * 1e5) / 100,
    event_loop_lag_max_ms:
      Math.round(value("kalandra_process_nodejs_eventloop_lag_max_seconds") * 1e5) / 100,
  };
}

const soakFrames = quick ? 0 : Number(process.env.BENCH_SOAK_FRAMES ?? 100_000);
const floor = await transportFloor(quick ? 200 : 2000, soakFrames);
log(`transport floor p50 ${floor.p50.toFixed(2)} ms p99 ${floor.p99.toFixed(2)} ms`);

const rooms = quick ? 2 : 10;
const members = quick ? 3 : 10;
// Stepped up until a step misses the goal (or loses a message); the last passing step is the peak.
// BENCH_E2E_RATES=300 runs only the given rates (comma-separated): a fixed-rate run whose
// hub CPU per message can be compared across builds at equal load.
const fixedRates = process.env.BENCH_E2E_RATES?.split(",").map(Number);
const rates = fixedRates ?? (quick ? [30] : [50, 100, 150, 200, 300, 400, 600, 800]);
const seconds = quick ? 2 : 8;
const auth = process.env.BENCH_E2E_AUTH === "oidc" ? "oidc" : "dev";
// BENCH_E2E_TRANSPORT=websocket: the clients reach the hub over its WebSocket listener.
const transport = process.env.BENCH_E2E_TRANSPORT === "websocket" ? "websocket" : "webtransport";
type Step = LoadResult & {
  rate: number;
  hub: Awaited<ReturnType<typeof hubView>> & {
    cpu_us_per_msg: number;
    cpu_us_per_delivery: number;
  };
  loadavg_1m: number;
};
let best: Step | undefined;
let last: Step | undefined;
const steps: {
  rate: number;
  msgs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  hub_cpu_us_per_msg: number;
  ok: boolean;
}[] = [];
// Other work on the machine can stall both processes at once for ~200 ms (seen as equal
// event-loop maxima in hub and load generator): a missed step is run once more, at most
// twice per bench run, before it ends the search.
let retries = quick ? 0 : 2;
for (let i = 0; i < rates.length; i++) {
  const rate = rates[i] as number;
  // BENCH_E2E_HUB_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node options for the hub.
  const hubNodeArgs = process.env.BENCH_E2E_HUB_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const oidc = auth === "oidc" ? await createBenchIssuer(tmp()) : undefined;
  const hub = await spawnHub(tmp(), { ...unlimited, ...oidc?.env }, [], hubNodeArgs);
  try {
    let cpuBefore = 0;
    const load = await runLoad({
      ...(oidc === undefined ? {} : { oidc: oidc.issuer }),
      transport,
      websocketUrl: hub.websocket,
      url: hub.url,
      certHash: hub.certHash,
      hubKey: hub.hubKey,
      rooms,
      members,
      rate,
      durationMs: seconds * 1000,
      log,
      // BENCH_LOADGEN_WORKERS=2 runs the clients in two worker threads (measured: no better
      // on two cores shared with the hub; it only adds CPU, see docs/performance.md).
      workers: Number(process.env.BENCH_LOADGEN_WORKERS ?? 1),
      beforeSend: async () => {
        cpuBefore = (await hubView(hub, 0, 1)).cpu_s;
      },
    });
    const view = await hubView(hub, cpuBefore, seconds);
    const r: Step = {
      ...load,
      rate,
      hub: {
        ...view,
        // The cost the restructuring is judged by (issue 11): hub CPU per sequenced
        // message and per delivered copy, at the step's load.
        cpu_us_per_msg: Math.round((view.cpu_run_s / Math.max(1, load.sent)) * 1e6),
        cpu_us_per_delivery: Math.round((view.cpu_run_s / Math.max(1, load.delivered)) * 1e6),
      },
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    };
    last = r;
    log(`rate ${rate}: ${JSON.stringify(r)}`);
    const ok =
      r.delivered === r.expected_deliveries && r.p99_ms < 100 && r.msgs_per_s >= rate * 0.9;
    steps.push({
      rate,
      msgs_per_s: r.msgs_per_s,
      p50_ms: r.p50_ms,
      p99_ms: r.p99_ms,
      hub_cpu_us_per_msg: r.hub.cpu_us_per_msg,
      ok,
    });
    if (ok) best = r;
    else if (retries > 0) {
      retries--;
      i--;
      log(`rate ${rate} missed the goal; running it once more`);
    } else if (!quick) break;
  } finally {
    await hub.stop();
  }
}
cleanupBenchDirs();
const chosen = best ?? last;
if (!chosen) throw new Error("no load run completed");
console.log(
  JSON.stringify({
    auth,
    transport,
    msgs_per_s: chosen.msgs_per_s,
    p50_ms: chosen.p50_ms,
    p99_ms: chosen.p99_ms,
    members_per_room: chosen.members_per_room,
    rooms: chosen.rooms,
    connections: chosen.connections,
    deliveries_per_s: chosen.deliveries_per_s,
    delivered_all: chosen.delivered === chosen.expected_deliveries,
    met_p99_goal: best !== undefined,
    peak_msgs_per_s_under_p99_goal: best?.msgs_per_s ?? 0,
    steps,
    stages: chosen.stages,
    hub: chosen.hub,
    loadgen: {
      threads: chosen.loadgen_threads,
      cpu_pct: chosen.loadgen_cpu_pct,
      event_loop_delay_p99_ms: chosen.loadgen_event_loop_delay_p99_ms,
      event_loop_delay_max_ms: chosen.loadgen_event_loop_delay_max_ms,
    },
    loadavg_1m: chosen.loadavg_1m,
    baseline_transport_rtt_p50_ms: Math.round(floor.p50 * 100) / 100,
    baseline_transport_rtt_p99_ms: Math.round(floor.p99 * 100) / 100,
    ...(floor.soak ? { soak: floor.soak } : {}),
    quick,
  }),
);
process.exit(0);
