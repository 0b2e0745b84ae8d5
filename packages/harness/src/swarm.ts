/**
 * Swarm runs and shrinking. In swarm mode a seed picks the scenario and, through fast-check,
 * its fault plan (which faults are on and how hard). A failing seed is shrunk by
 * fast-check: the same seed makes fast-check generate the same plan first, and its
 * shrinker then looks for smaller plans (fewer fault events, less loss, shorter outages)
 * that still fail; the smallest one is what a regression file keeps.
 */
import fc from "fast-check";
import { type FaultPlan, fcSeed, planArbitrary } from "./faults.js";
import { planSpec, type RunResult, runScenario, type Scenario } from "./scenario.js";
import { SCENARIOS } from "./scenarios.js";

/** The scenario a swarm seed runs. */
export function swarmScenario(seed: bigint, among: readonly Scenario[] = SCENARIOS): Scenario {
  const s = among[Number(seed % BigInt(among.length))];
  if (s === undefined) throw new RangeError("no scenarios");
  return s;
}

export interface ShrinkOptions {
  scenario: Scenario;
  seed: bigint;
  canaries?: readonly string[];
  /** Wall-clock budget of the whole shrink (ms); default 120 s. */
  timeLimitMs?: number;
}

export interface Shrunk {
  plan: FaultPlan;
  result: RunResult;
  /** Failing runs fast-check tried while shrinking. */
  shrinks: number;
}

/**
 * Runs the seed's plan and, if it fails, shrinks it; undefined when the seed passes.
 * The world seed stays the seed given: only the fault plan shrinks.
 */
export async function shrinkSeed(o: ShrinkOptions): Promise<Shrunk | undefined> {
  const arb = planArbitrary(planSpec(o.scenario));
  const run = (plan: FaultPlan) =>
    runScenario({
      scenario: o.scenario,
      seed: o.seed,
      plan,
      ...(o.canaries === undefined ? {} : { canaries: o.canaries }),
    });
  const details = await fc.check(
    fc.asyncProperty(arb, async (plan) => (await run(plan)).ok),
    {
      seed: fcSeed(o.seed),
      numRuns: 1,
      interruptAfterTimeLimit: o.timeLimitMs ?? 120_000,
      markInterruptAsFailure: false,
    },
  );
  if (!details.failed || details.counterexample === null) return undefined;
  const [plan] = details.counterexample;
  return { plan, result: await run(plan), shrinks: details.numShrinks };
}

/** A regression file (tests/simulation/regressions/*.json). */
export interface Regression {
  scenario: string;
  seed: string;
  plan: FaultPlan;
  canaries?: string[];
  /** What went wrong, and what fixed it. */
  why: string;
}

export function toRegression(r: RunResult, why: string): Regression {
  return {
    scenario: r.scenario,
    seed: r.seed,
    plan: r.plan,
    ...(r.canaries.length > 0 ? { canaries: r.canaries } : {}),
    why,
  };
}
