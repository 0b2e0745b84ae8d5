/**
 * Canaries (DESIGN §8): each planted bug, switched on alone, must make an invariant fire
 * somewhere in the CI seed batch. This proves the invariants can fire at all.
 */
import { CANARIES, runScenario, type Scenario, scenarioByName } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { CI_SEEDS } from "./support.js";

describe.each(CANARIES.map((c) => [c.name, c] as const))("canary %s", (name, c) => {
  it(`is caught: ${c.description}`, async () => {
    const tried: string[] = [];
    let caught: string | undefined;
    search: for (const scenarioName of c.scenarios) {
      const scenario: Scenario = scenarioByName(scenarioName);
      for (const seed of CI_SEEDS) {
        const r = await runScenario({ scenario, seed, canaries: [name] });
        tried.push(`${scenarioName}/${seed}`);
        if (!r.ok) {
          caught = `${scenarioName}/${seed}: ${[...new Set(r.violations.map((v) => v.invariant))].join(", ")}`;
          break search;
        }
      }
    }
    expect(caught, `no invariant fired over ${tried.join(" ")}`).toBeDefined();
  });
});
