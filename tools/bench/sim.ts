/**
 * `pnpm bench sim`: the speed of the deterministic simulation (issue 6) on the ten-member
 * chat under 50 % loss, driving the real hub and client cores.
 *
 * - simulated_s_per_wall_s: virtual seconds per wall second of one process on the chat at a
 *   human pace (`chat10_slow`: five minutes of chat, 1–3 messages per member). The
 *   baseline is the wall clock itself (1.0): TigerBeetle quotes ≥ 1000 for its simulator.
 * - seeds_per_min: whole seeds (world setup, chaos, healing, convergence, checks) of the CI
 *   chat scenario (`chat10`) per minute with one worker process per core (2 here); the
 *   goal is ≥ 500 seeds in 10 minutes, i.e. ≥ 50 per minute.
 * - events_per_s: scheduler events (deliveries, timers, fsyncs, faults) per wall second.
 * - canaries_caught / canaries_planted: planted bugs for which an invariant fired over the
 *   CI seed batch (BENCH_QUICK: seeds 1 and 2 of each canary's first scenario only; seed 1
 *   alone no longer trips ack_before_fsync and hlc_backwards in hub_crash).
 *
 * Prints one JSON object on its last line. BENCH_QUICK=1 runs a few seeds.
 */
import { fork } from "node:child_process";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import {
  CANARIES,
  chat10,
  chat10Slow,
  type RunResult,
  runScenario,
  scenarioByName,
} from "@kalandra/harness";

const quick = process.env.BENCH_QUICK === "1";

if (process.argv[2] === "--worker") {
  // Child: runs the given chat10 seeds, reports each result.
  for (const s of (process.argv[3] ?? "").split(",").filter(Boolean)) {
    const r = await runScenario({ scenario: chat10, seed: BigInt(s) });
    process.send?.({ ok: r.ok, simulatedMs: r.simulatedMs, events: r.events, seed: r.seed });
  }
  process.exit(0);
}

// Warm-up (module compilation, JIT) outside the measurement.
await runScenario({ scenario: chat10, seed: 999_999n });

// 1. One process on the slow chat: simulated seconds per wall second, events per second.
const slowSeeds = quick ? [1n] : [1n, 2n, 3n, 4n, 5n, 6n];
let simMs = 0;
let events = 0;
let wallMs = 0;
let slowFailures = 0;
for (const seed of slowSeeds) {
  const t = performance.now();
  const r = await runScenario({ scenario: chat10Slow, seed });
  wallMs += performance.now() - t;
  simMs += r.simulatedMs;
  events += r.events;
  if (!r.ok) slowFailures++;
}

// 2. Seeds per minute of the CI chat, one worker per core.
const jobs = Math.max(1, Math.min(2, cpus().length));
const count = quick ? 4 : 100;
const seeds = Array.from({ length: count }, (_, i) => BigInt(i + 1));
const self = fileURLToPath(import.meta.url);
const started = performance.now();
const results: Pick<RunResult, "ok" | "simulatedMs" | "events" | "seed">[] = [];
await Promise.all(
  Array.from({ length: jobs }, (_, j) => seeds.filter((_, i) => i % jobs === j)).map(
    (slice) =>
      new Promise<void>((resolve, reject) => {
        const child = fork(self, ["--worker", slice.join(",")], { execArgv: ["--import", "tsx"] });
        child.on("message", (m) => results.push(m as RunResult));
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker ${code}`))));
      }),
  ),
);
const swarmWallS = (performance.now() - started) / 1000;

// 3. Canaries: an invariant must fire for each over the CI batch.
let caught = 0;
for (const c of CANARIES) {
  let hit = false;
  search: for (const name of c.scenarios) {
    for (const seed of quick ? [1n, 2n] : [1n, 2n, 3n, 4n, 5n]) {
      const r = await runScenario({ scenario: scenarioByName(name), seed, canaries: [c.name] });
      if (!r.ok) {
        hit = true;
        break search;
      }
    }
    if (quick) break;
  }
  if (hit) caught++;
}

const result = {
  quick,
  simulated_s_per_wall_s: Math.round(simMs / wallMs),
  seeds_per_min: Math.round((results.length / swarmWallS) * 60),
  events_per_s: Math.round(events / (wallMs / 1000)),
  canaries_caught: caught,
  canaries_planted: CANARIES.length,
  baseline_wall_clock_s_per_s: 1,
  slow_chat_seeds: slowSeeds.length,
  slow_chat_failures: slowFailures,
  swarm_seeds: results.length,
  swarm_failures: results.filter((r) => !r.ok).length,
  swarm_jobs: jobs,
  swarm_simulated_s_per_wall_s: Math.round(
    results.reduce((a, r) => a + r.simulatedMs, 0) / 1000 / swarmWallS,
  ),
};
for (const [k, v] of Object.entries(result)) if (k !== "quick") console.error(`${k}: ${v}`);
console.log(JSON.stringify(result));
