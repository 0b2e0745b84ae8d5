/**
 * The federation scenarios and their runner (issue 18, docs/simulation.md "Federation").
 * A run builds a FedWorld of 2–5 hubs from the seed's plan, lets writers on every hub write
 * through the chaos phase (faults applied, safety checked every 2 s), heals, waits for
 * convergence, then runs the final checks. Same seed → same trace digest and state digest.
 */
import { createHash } from "node:crypto";
import type { AckQuorum } from "@kalandra/server";
import { wallClockMs } from "../host.js";
import type { SeededRng } from "../rng.js";
import { type RunResult, runResult, scenarioError } from "../scenario.js";
import { checkFedFinal, checkFedSafety, currentAuthority, fedConverged } from "./fedChecks.js";
import { type FedPlan, type FedPlanSpec, fedPlanFor } from "./fedPlan.js";
import { FedWorld } from "./fedWorld.js";

export interface FedScenario {
  name: string;
  description: string;
  ackQuorum: AckQuorum;
  chaosMs: number;
  convergeMs: number;
  failoverAfterMs: number;
  writersPerHub: number;
  plan: Omit<FedPlanSpec, "chaosMs">;
  /** Schedules the scenario's own actions (transfers, the authority's crash …). */
  workload?(w: FedWorld, rng: SeededRng): void;
}

export type FedRunResult = Omit<RunResult, "plan"> & { plan: FedPlan };

const CHECK_EVERY_MS = 2000;

/** Every few seconds the sitting authority hands the room to another hub. */
function plannedTransfers(w: FedWorld, rng: SeededRng, chaosMs: number): void {
  for (let t = 1500 + rng.int(1000); t < chaosMs - 1000; t += 2000 + rng.int(2000)) {
    w.at(t, "transfer", () => {
      const auth = currentAuthority(w);
      if (auth === undefined) return;
      const others = w.names.filter((n) => n !== auth.name);
      const to = rng.pick(others);
      if (auth.engine!.transfer(to)) w.note("transfers_started");
    });
  }
}

/** The authority crashes (or is cut off from every other hub) long enough to be replaced. */
function authorityOutage(w: FedWorld, rng: SeededRng, chaosMs: number): void {
  const t = 1000 + rng.int(Math.max(1, Math.floor(chaosMs / 3)));
  const cut = rng.chance(0.5);
  w.at(t, "authority outage", () => {
    const auth = currentAuthority(w);
    if (auth === undefined) return;
    const downMs = 3 * w.failoverAfterMs + rng.int(4000);
    w.note(cut ? "authority_cut_off" : "authority_crashed");
    if (cut) {
      const rest = w.names.filter((n) => n !== auth.name);
      w.network.partition([auth.name], rest);
      w.at(downMs, "outage over", () => w.network.unpartition([auth.name], rest));
    } else {
      auth.crash(rng.int(3));
      w.at(downMs, `restart ${auth.name}`, () => auth.restart());
    }
  });
}

export const fedTransfer: FedScenario = {
  name: "fed_transfer",
  description: "planned transfers every few seconds under load, lossy links, crashes and skew",
  ackQuorum: "majority",
  chaosMs: 16_000,
  convergeMs: 20_000,
  failoverAfterMs: 1500,
  writersPerHub: 1,
  plan: { minHubs: 2, maxHubs: 5, kinds: ["network", "hubCrash", "replayOld"], maxEvents: 3 },
  workload: (w, rng) => plannedTransfers(w, rng, fedTransfer.chaosMs),
};

export const fedFailover: FedScenario = {
  name: "fed_failover",
  description:
    "the authority crashes or is cut off; a voter takes over; the old one comes back deposed",
  ackQuorum: "majority",
  chaosMs: 16_000,
  convergeMs: 20_000,
  failoverAfterMs: 1000,
  writersPerHub: 1,
  plan: { minHubs: 3, maxHubs: 5, kinds: ["network", "hubCrash", "partition"], maxEvents: 3 },
  workload: (w, rng) => authorityOutage(w, rng, fedFailover.chaosMs),
};

export const fedPartition: FedScenario = {
  name: "fed_partition",
  description: "partitions between groups of hubs and crashes, transfers and failovers mixed",
  ackQuorum: "majority",
  chaosMs: 16_000,
  convergeMs: 20_000,
  failoverAfterMs: 800,
  writersPerHub: 1,
  plan: {
    minHubs: 3,
    maxHubs: 5,
    kinds: ["network", "hubCrash", "partition", "replayOld"],
    maxEvents: 6,
  },
  workload: (w, rng) => plannedTransfers(w, rng, fedPartition.chaosMs),
};

export const fedLocal: FedScenario = {
  name: "fed_local",
  description: 'ack_quorum = "local": failover may lose the unreplicated tail, which is counted',
  ackQuorum: "local",
  chaosMs: 12_000,
  convergeMs: 20_000,
  failoverAfterMs: 1000,
  writersPerHub: 1,
  plan: { minHubs: 2, maxHubs: 4, kinds: ["network", "hubCrash"], maxEvents: 2 },
  workload: (w, rng) => authorityOutage(w, rng, fedLocal.chaosMs),
};

/** The authority crashes again and again: many elections, often two candidates at once. */
function repeatedCrashes(w: FedWorld, rng: SeededRng, chaosMs: number): void {
  for (let t = 800 + rng.int(500); t < chaosMs - 1500; t += 1500 + rng.int(1500)) {
    w.at(t, "authority crash", () => {
      const auth = currentAuthority(w);
      if (auth === undefined) return;
      w.note("authority_crashed");
      auth.crash(rng.int(3));
      w.at(600 + rng.int(1500), `restart ${auth.name}`, () => auth.restart());
    });
  }
}

export const fedElection: FedScenario = {
  name: "fed_election",
  description: "the authority crashes every few seconds; voters with equal logs run at once",
  ackQuorum: "majority",
  chaosMs: 12_000,
  convergeMs: 20_000,
  failoverAfterMs: 250,
  writersPerHub: 1,
  plan: { minHubs: 3, maxHubs: 5, kinds: ["network"], maxLoss: 0.1, maxEvents: 0 },
  workload: (w, rng) => repeatedCrashes(w, rng, fedElection.chaosMs),
};

export const FED_SCENARIOS: readonly FedScenario[] = [
  fedTransfer,
  fedFailover,
  fedPartition,
  fedLocal,
  fedElection,
];

export function fedScenarioByName(name: string): FedScenario | undefined {
  return FED_SCENARIOS.find((s) => s.name === name);
}

export interface FedRunOptions {
  scenario: FedScenario;
  seed: bigint;
  plan?: FedPlan;
  canaries?: readonly string[];
  keepTrace?: boolean;
}

export async function runFedScenario(o: FedRunOptions): Promise<FedRunResult> {
  const s = o.scenario;
  const plan = o.plan ?? fedPlanFor({ ...s.plan, chaosMs: s.chaosMs }, o.seed);
  const started = wallClockMs();
  const w = FedWorld.create({
    seed: o.seed,
    hubs: plan.hubs,
    writersPerHub: s.writersPerHub,
    ackQuorum: s.ackQuorum,
    failoverAfterMs: s.failoverAfterMs,
    maxSkewMs: plan.maxSkewMs,
    canaries: o.canaries ?? [],
    keepTrace: o.keepTrace === true,
  });
  const t0 = w.scheduler.now;
  let stateDigest = "";
  try {
    try {
      await w.runFor(500); // the room's first heartbeats on a perfect network
      w.applyPlan(plan);
      s.workload?.(w, w.rng.fork(`scenario-${s.name}`));
      for (let t = 0; t < s.chaosMs; t += CHECK_EVERY_MS) {
        await w.runFor(Math.min(CHECK_EVERY_MS, s.chaosMs - t));
        checkFedSafety(w);
      }
      w.writing = false;
      w.heal();
      w.trace.record("heal");
      let waiting = fedConverged(w);
      for (let t = 0; t < s.convergeMs && waiting !== undefined; t += 250) {
        await w.runFor(250);
        waiting = fedConverged(w);
      }
      if (waiting !== undefined)
        w.violation("convergence", `not converged after ${s.convergeMs} ms: ${waiting}`);
      checkFedSafety(w);
      checkFedFinal(w);
    } catch (e) {
      scenarioError(w, e);
    }
    stateDigest = digestFed(w);
  } finally {
    w.close();
  }
  const notes = { ...w.notes, acked: w.acked.size, hubs: plan.hubs };
  return runResult(w, { ...o, scenario: s.name, plan }, { stateDigest, t0, started, notes });
}

/** SHA-256 over every hub's term, authority and log, and what it served. */
export function digestFed(w: FedWorld): string {
  const h = createHash("sha256");
  for (const hub of w.hubs.values()) {
    const rec = hub.store.record();
    h.update(`${hub.name} ${rec.term} ${rec.authority} ${hub.store.length()}\n`);
    for (let i = 0n; i < hub.store.length(); i++) {
      const e = hub.store.entry(i)!;
      h.update(`${e.index} ${e.term} ${e.by} ${e.request}\n`);
    }
    for (const [i, e] of hub.served) h.update(`served ${i} ${e.request}\n`);
  }
  return h.digest("hex");
}
