/**
 * `pnpm bench e2e`: kalandrad as a child process, real clients (MLS + sender keys) over
 * WebTransport. Steps up the aggregate message rate and reports the highest rate at which
 * every message reached every member with p99 end-to-end latency under 100 ms (DESIGN
 * goal), plus the latency at that rate.
 *
 * Baseline (same process, same machine): the transport floor — round trips of a 100-byte
 * frame through kalandrad's echo core over one WebTransport session.
 *
 * Full mode also runs the session soak: 1,000,000 frames / ~1 GB over one session (echo
 * core), reporting frames/s and whether it completed. BENCH_QUICK=1 is a seconds-long smoke.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectWebTransport } from "@kalandra/client";
import { encodeFrame, encodePayload, generateDeviceKey, Opcode, systemRng } from "@kalandra/proto";
import { spawnHub } from "../loadgen/hub.js";
import { type LoadResult, percentile, runLoad } from "../loadgen/loadgen.js";

const quick = process.env.BENCH_QUICK === "1";
const log = (s: string) => process.stderr.write(`[e2e] ${s}\n`);
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "kalandra-bench-e2e-"));
  dirs.push(d);
  return d;
};
const unlimited = {
  KALANDRA_LIMITS__CONNECTION_RATE: "10000000",
  KALANDRA_LIMITS__CONNECTION_BURST: "10000000",
  KALANDRA_LIMITS__DEVICE_RATE: "10000000",
  KALANDRA_LIMITS__DEVICE_BURST: "10000000",
};

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

const floor = await transportFloor(quick ? 200 : 2000, quick ? 0 : 1_000_000);
log(`transport floor p50 ${floor.p50.toFixed(2)} ms p99 ${floor.p99.toFixed(2)} ms`);

const rooms = quick ? 2 : 10;
const members = quick ? 3 : 10;
const rates = quick ? [30] : [100, 200, 400, 800, 1600];
const seconds = quick ? 2 : 10;
let best: LoadResult | undefined;
let last: LoadResult | undefined;
for (const rate of rates) {
  const hub = await spawnHub(tmp(), unlimited);
  try {
    const r = await runLoad({
      url: hub.url,
      certHash: hub.certHash,
      hubKey: hub.hubKey,
      rooms,
      members,
      rate,
      durationMs: seconds * 1000,
      log,
    });
    last = r;
    log(`rate ${rate}: ${JSON.stringify(r)}`);
    const ok =
      r.delivered === r.expected_deliveries && r.p99_ms < 100 && r.msgs_per_s >= rate * 0.9;
    if (ok) best = r;
    else if (!quick) break;
  } finally {
    await hub.stop();
  }
}
for (const d of dirs) rmSync(d, { recursive: true, force: true });
const chosen = best ?? last;
if (!chosen) throw new Error("no load run completed");
console.log(
  JSON.stringify({
    msgs_per_s: chosen.msgs_per_s,
    p50_ms: chosen.p50_ms,
    p99_ms: chosen.p99_ms,
    members_per_room: chosen.members_per_room,
    rooms: chosen.rooms,
    connections: chosen.connections,
    deliveries_per_s: chosen.deliveries_per_s,
    delivered_all: chosen.delivered === chosen.expected_deliveries,
    met_p99_goal: best !== undefined,
    baseline_transport_rtt_p50_ms: Math.round(floor.p50 * 100) / 100,
    baseline_transport_rtt_p99_ms: Math.round(floor.p99 * 100) / 100,
    ...(floor.soak ? { soak: floor.soak } : {}),
    quick,
  }),
);
process.exit(0);
