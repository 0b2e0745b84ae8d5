/**
 * Every scenario over the CI seeds plus a bounded random batch. Each seed runs twice:
 * the event traces and final states must be byte-identical (DESIGN §8), and no invariant
 * may fire. A failure prints the seed and the command that replays it.
 */
import { type RunResult, runScenario, SCENARIOS } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { CI_SEEDS, randomSeeds, report } from "./support.js";

const random = randomSeeds();

describe.each(SCENARIOS.map((s) => [s.name, s] as const))("scenario %s", (_name, scenario) => {
  it(`holds every invariant over seeds ${CI_SEEDS.join(",")} and random ${random.join(",")}, deterministically`, async () => {
    const results: RunResult[] = [];
    const nondeterministic: string[] = [];
    for (const seed of [...CI_SEEDS, ...random]) {
      const a = await runScenario({ scenario, seed });
      const b = await runScenario({ scenario, seed });
      results.push(a);
      if (a.traceDigest !== b.traceDigest || a.stateDigest !== b.stateDigest) {
        nondeterministic.push(`seed ${seed}: ${a.traceDigest} vs ${b.traceDigest}`);
      }
    }
    expect(nondeterministic, "same seed, different trace").toEqual([]);
    expect(report(results), "invariant violations").toBe("");
  });
});
