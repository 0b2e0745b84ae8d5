/**
 * `pnpm bench ops`: operating kalandrad (issue 16) on a data directory the load generator
 * filled (real clients, MLS + sender keys, over WebTransport; at least 1 GB in the full run).
 *
 * - backup_mb_per_s: data directory bytes / wall time of `kalandrad backup create`, run as
 *   its own process beside the serving hub (synced writes, `database.sync = full`).
 * - backup_pause_ms_p99: while that backup runs, a probe room keeps sending; the p99 of its
 *   frames' hub-and-transport time (send handed to the transport → frame back at a member:
 *   sequencing, fsync, fan-out) — the write stall a client sees. baseline_pause_ms_p99 is
 *   the same probe just before, without a backup. Goal: no stall over 50 ms.
 * - restore_mb_per_s: data directory bytes / wall time of `kalandrad restore` (hub stopped).
 *
 * The directory is filled with `database.sync = none` (it only has to exist), then the hub
 * restarts with full sync for the measurements. Prints one JSON object on its last line.
 * BENCH_QUICK=1 fills a few MB (seconds), as bench:smoke does. BENCH_OPS_DATA=<dir> reuses
 * (and keeps) a directory an earlier run filled, topping it up to the target: filling 1 GB
 * through real clients takes the better part of an hour on the shared 2-core machine.
 *
 * - reshard_rooms_per_s (with frames and MB per second): `kalandrad admin reshard` 2 → 4
 *   worker shards, real fsyncs (tools/bench/_reshard.ts). Full: 1000 rooms × 1000 frames of
 *   1 KiB (~1.2 GB on disk); BENCH_QUICK=1: 20 rooms × 50 frames.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@kalandra/test-support";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { type LoadResult, runLoad } from "../loadgen/loadgen.js";
import { measureReshard } from "./_reshard.js";

const quick = process.env.BENCH_QUICK === "1";
const TARGET_BYTES = quick ? 4e6 : 1.05e9;
// Near the envelope's 64 KiB body limit: few MLS operations per byte; long rounds, since
// each round first sets its rooms up (MLS groups, warm-up).
const MESSAGE_BYTES = quick ? 8_000 : 60_000;
const FILL_RATE = quick ? 100 : 300;
const FILL_ROUND_MS = quick ? 3_000 : 120_000;
const MAX_ROUNDS = quick ? 4 : 20;
const PROBE_MS = quick ? 3_000 : 15_000;
const BIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../packages/server/bin/kalandrad.mjs",
);

const log = (l: string) => process.stderr.write(`${l}\n`);
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/** Bytes allocated on disk below `dir`. */
function diskBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    n += s.isDirectory() ? diskBytes(p) : s.blocks * 512;
  }
  return n;
}

/** `kalandrad ARGS` as its own process; resolves with its wall time, rejects on failure. */
function kalandrad(args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`kalandrad ${args.join(" ")} exited ${code}: ${out}`));
    });
  });
}

function load(
  hub: SpawnedHub,
  o: {
    rooms: number;
    rate: number;
    ms: number;
    bytes: number;
    offset: number;
    beforeSend?: () => Promise<void>;
  },
): Promise<LoadResult> {
  return runLoad({
    url: hub.url,
    certHash: hub.certHash,
    hubKey: hub.hubKey,
    rooms: o.rooms,
    members: 2,
    rate: o.rate,
    durationMs: o.ms,
    messageBytes: o.bytes,
    roomOffset: o.offset,
    ...(o.beforeSend ? { beforeSend: o.beforeSend } : {}),
  });
}

const tmp = tempDir("bench-ops");
const reuse = process.env.BENCH_OPS_DATA;
const data = reuse ?? join(tmp.path, "data");
const key = join(tmp.path, "backup.key");
const shards = { KALANDRA_SERVER__SHARDS: "2" };
try {
  let hub = await spawnHub(data, { ...shards, KALANDRA_DATABASE__SYNC: "none" });
  // Fresh user and room numbers when topping up a directory filled before.
  let offset = reuse === undefined ? 0 : 10_000 + (Math.floor(Date.now() / 1000) % 100_000);
  for (let r = 0; r < MAX_ROUNDS && diskBytes(data) < TARGET_BYTES; r++) {
    const res = await load(hub, {
      rooms: 4,
      rate: FILL_RATE,
      ms: FILL_ROUND_MS,
      bytes: MESSAGE_BYTES,
      offset,
    });
    offset += 4;
    log(`fill round ${r}: ${res.sent} messages, data ${round(diskBytes(data) / 1e6)} MB`);
  }
  await hub.stop();
  hub = await spawnHub(data, shards);
  const dataBytes = diskBytes(data);

  const baseline = await load(hub, {
    rooms: 1,
    rate: 50,
    ms: PROBE_MS,
    bytes: 200,
    offset: offset++,
  });
  const out = join(tmp.path, "backup");
  let backupMs = 0;
  let backup: Promise<void> = Promise.resolve();
  const during = await load(hub, {
    rooms: 1,
    rate: 50,
    ms: PROBE_MS,
    bytes: 200,
    offset: offset++,
    beforeSend: async () => {
      backup = kalandrad(["backup", "create", out, "--data", data, "--key", key]).then((ms) => {
        backupMs = ms;
      });
    },
  });
  await backup;
  const backupBytes = diskBytes(out);
  await hub.stop();

  const restoreMs = await kalandrad([
    "restore",
    out,
    "--data",
    join(tmp.path, "restored"),
    "--key",
    key,
  ]);
  const mb = dataBytes / 1e6;
  const result = {
    data_mb: round(mb),
    backup_mb: round(backupBytes / 1e6),
    backup_s: round(backupMs / 1000, 2),
    backup_mb_per_s: round(mb / (backupMs / 1000)),
    backup_pause_ms_p99: round(during.stages.hub_and_transport.p99_ms, 2),
    baseline_pause_ms_p99: round(baseline.stages.hub_and_transport.p99_ms, 2),
    probe_e2e_ms_max_during_backup: round(during.max_ms, 2),
    probe_window_covers_backup: backupMs <= PROBE_MS,
    restore_s: round(restoreMs / 1000, 2),
    restore_mb_per_s: round(mb / (restoreMs / 1000)),
    ...(await measureReshard(
      quick
        ? { rooms: 20, frames: 50, payloadBytes: 200 }
        : { rooms: 1000, frames: 1000, payloadBytes: 1024 },
    )),
  };
  console.log(JSON.stringify(result));
} finally {
  tmp.cleanup();
}
process.exit(0);
