/**
 * `pnpm sim`: the deterministic simulation from the command line (docs/simulation.md).
 *
 *   pnpm sim --seed 42                      one seed (its scenario is drawn from the seed)
 *   pnpm sim --seed 42 --scenario chat10    one seed of one scenario
 *   pnpm sim --seed 42 --trace run.trace    … and write every trace line to a file
 *   pnpm sim --seeds 1000 [--from 7] [--jobs 2] [--scenario name]   a swarm of seeds
 *   pnpm sim --seed 42 --canary ack_before_fsync   with a planted bug switched on
 *   pnpm sim --seeds 500 --scenario federation      the federation worlds (2–5 hubs, issue 18)
 *   pnpm sim --seed 3 --scenario fed_election --canary vote_twice
 *   pnpm sim --seed 3 --scenario fed_hubs           real hubs and MLS clients across hubs
 *   pnpm sim --seed 3 --scenario fed_hubs --enlist-hubs off   … with `federation.enlist_hubs` off
 *
 * A failing run prints its violations, the one command that replays it, and (unless
 * --no-shrink) the fault plan fast-check shrank it to, saved with --save <file.json> as a
 * regression test (tests/simulation/regressions/).
 */
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  FED_HUB_SCENARIOS,
  FED_SCENARIOS,
  type FedRunResult,
  fedHubScenarioByName,
  fedScenarioByName,
  type RunResult,
  replayCommand,
  runFedHubScenario,
  runFedScenario,
  runScenario,
  type Scenario,
  scenarioByName,
  shrinkSeed,
  swarmScenario,
  toRegression,
} from "@kalandra/harness";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string" },
    from: { type: "string" },
    scenario: { type: "string" },
    trace: { type: "string" },
    canary: { type: "string" },
    save: { type: "string" },
    jobs: { type: "string" },
    "no-shrink": { type: "boolean" },
    worker: { type: "string" },
    "enlist-hubs": { type: "string" },
    help: { type: "boolean" },
  },
});

const canaries = values.canary === undefined ? [] : values.canary.split(",").filter(Boolean);
const pickScenario = (seed: bigint): Scenario =>
  values.scenario === undefined || values.scenario === "swarm"
    ? swarmScenario(seed)
    : scenarioByName(values.scenario);

/** Every federation scenario: the authority engine's worlds, then the worlds of real hubs. */
const FED_NAMES = [...FED_SCENARIOS, ...FED_HUB_SCENARIOS].map((s) => s.name);

/** The federation scenario of a seed: by name, or drawn from the seed ("federation"). */
function pickFed(seed: bigint): string | undefined {
  if (values.scenario === "federation") return FED_NAMES[Number(seed % BigInt(FED_NAMES.length))];
  return values.scenario !== undefined && FED_NAMES.includes(values.scenario)
    ? values.scenario
    : undefined;
}

type AnyResult = RunResult | FedRunResult;

/** `--enlist-hubs on|off`: the real hubs' `federation.enlist_hubs` (default the hub's). */
const enlist = values["enlist-hubs"];
if (enlist !== undefined && enlist !== "on" && enlist !== "off") {
  throw new Error("--enlist-hubs takes on or off");
}
const enlistHubs = enlist === undefined ? {} : { enlistHubs: enlist === "on" };

/** Runs one seed: a federation world when the scenario is one, else the single-hub world. */
function runSeed(seed: bigint, keepTrace = false): Promise<AnyResult> {
  const fed = pickFed(seed);
  const hubs = fed === undefined ? undefined : fedHubScenarioByName(fed);
  if (hubs !== undefined) {
    return runFedHubScenario({ scenario: hubs, seed, canaries, keepTrace, ...enlistHubs });
  }
  const engine = fed === undefined ? undefined : fedScenarioByName(fed);
  if (engine !== undefined) return runFedScenario({ scenario: engine, seed, canaries, keepTrace });
  return runScenario({ scenario: pickScenario(seed), seed, canaries, keepTrace });
}

function summary(r: AnyResult): string {
  const head = `${r.ok ? "ok  " : "FAIL"} ${r.scenario} seed ${r.seed}: ${r.events} events, ${(
    r.simulatedMs / 1000
  ).toFixed(
    1,
  )} s simulated in ${(r.wallMs / 1000).toFixed(2)} s, trace ${r.traceDigest.slice(0, 16)}`;
  if (r.ok) return head;
  const vs = r.violations.map((v) => `  ${v.invariant}: ${v.detail}`).join("\n");
  return `${head}\n${vs}\n  replay: ${replayCommand(r)}`;
}

async function shrinkAndReport(r: AnyResult): Promise<void> {
  if (values["no-shrink"] === true) return;
  if (FED_NAMES.includes(r.scenario)) {
    console.log(`  federation plan (replayed by the seed): ${JSON.stringify(r.plan)}`);
    return;
  }
  console.log("  shrinking the fault plan (fast-check)…");
  const s = await shrinkSeed({
    scenario: scenarioByName(r.scenario),
    seed: BigInt(r.seed),
    canaries,
  });
  if (s === undefined) {
    console.log("  the failure did not reproduce while shrinking");
    return;
  }
  console.log(`  smallest failing plan after ${s.shrinks} shrinks: ${JSON.stringify(s.plan)}`);
  console.log(`  it fails with: ${s.result.violations.map((v) => v.invariant).join(", ")}`);
  const reg = toRegression(s.result, s.result.violations[0]?.detail ?? "");
  if (values.save !== undefined) {
    writeFileSync(values.save, `${JSON.stringify(reg, null, 2)}\n`);
    console.log(`  saved the regression to ${values.save}`);
  } else {
    console.log("  save it as a regression with --save tests/simulation/regressions/<name>.json");
  }
}

async function one(seed: bigint): Promise<boolean> {
  const r = await runSeed(seed, values.trace !== undefined);
  console.log(summary(r));
  if (values.trace !== undefined) {
    writeFileSync(values.trace, `${(r.trace ?? []).join("\n")}\n`);
    console.log(`trace (${r.trace?.length ?? 0} lines) written to ${values.trace}`);
  }
  if (!r.ok) await shrinkAndReport(r);
  return r.ok;
}

/** Worker mode: runs the given seeds, one JSON result per line on stdout. */
async function worker(list: string): Promise<void> {
  for (const s of list.split(",")) {
    const seed = BigInt(s);
    const r = await runSeed(seed);
    process.send?.({ ...r, trace: undefined });
  }
}

async function many(count: number): Promise<boolean> {
  const from =
    values.from !== undefined ? BigInt(values.from) : BigInt(1 + Math.floor(Math.random() * 1e9));
  const jobs = Math.max(1, Number(values.jobs ?? 1));
  const seeds = Array.from({ length: count }, (_, i) => from + BigInt(i));
  console.log(`swarm: ${count} seeds from ${from}, ${jobs} job(s)`);
  const started = performance.now();
  const failures: AnyResult[] = [];
  let simulated = 0;
  let done = 0;
  const onResult = (r: AnyResult) => {
    done++;
    simulated += r.simulatedMs;
    if (!r.ok) {
      failures.push(r);
      console.log(summary(r));
    } else if (done % 50 === 0) console.log(`  ${done}/${count} seeds ok so far`);
  };
  if (jobs === 1) {
    for (const seed of seeds) {
      onResult(await runSeed(seed));
    }
  } else {
    const self = fileURLToPath(import.meta.url);
    const slices = Array.from({ length: jobs }, (_, j) => seeds.filter((_, i) => i % jobs === j));
    await Promise.all(
      slices
        .filter((s) => s.length > 0)
        .map(
          (slice) =>
            new Promise<void>((resolve, reject) => {
              const args = ["--worker", slice.join(",")];
              if (values.scenario !== undefined) args.push("--scenario", values.scenario);
              if (canaries.length > 0) args.push("--canary", canaries.join(","));
              if (enlist !== undefined) args.push("--enlist-hubs", enlist);
              const child = fork(self, args, { execArgv: ["--import", "tsx"] });
              child.on("message", (m) => onResult(m as AnyResult));
              child.on("exit", (code) =>
                code === 0 ? resolve() : reject(new Error(`worker exited ${code}`)),
              );
            }),
        ),
    );
  }
  const wall = (performance.now() - started) / 1000;
  console.log(
    `${count} seeds, ${failures.length} failing, ${wall.toFixed(1)} s wall, ${(
      (count / wall) * 60
    ).toFixed(0)} seeds/min, ${(simulated / 1000 / wall).toFixed(0)} simulated s per wall s`,
  );
  const first = failures[0];
  if (first !== undefined) await shrinkAndReport(first);
  return failures.length === 0;
}

if (
  values.help === true ||
  (values.seed === undefined && values.seeds === undefined && values.worker === undefined)
) {
  console.log(
    "usage: pnpm sim --seed N [--scenario name] [--trace file] [--canary a,b] [--no-shrink] [--save file]\n" +
      "       pnpm sim --seeds COUNT [--from N] [--jobs J] [--scenario name|swarm|federation] [--canary a,b]\n" +
      "       [--enlist-hubs on|off]   the real hubs' federation.enlist_hubs (default the hub's)",
  );
  process.exit(values.help === true ? 0 : 1);
}
if (values.worker !== undefined) {
  await worker(values.worker);
  process.exit(0);
}
const ok =
  values.seed !== undefined ? await one(BigInt(values.seed)) : await many(Number(values.seeds));
process.exit(ok ? 0 : 1);
