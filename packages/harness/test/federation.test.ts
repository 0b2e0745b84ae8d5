/**
 * The federation worlds inside the harness package (issue 18): one seed of every
 * federation scenario holds every invariant and moves the room, the same seed replays to
 * the same digests, and each federation canary makes an invariant fire within a few
 * seeds. The wide seed sweeps live in tests/simulation (federation.test.ts, `pnpm sim`).
 */
import { describe, expect, it } from "vitest";
import { FED_CANARIES, FED_SCENARIOS, fedScenarioByName, runFedScenario } from "../src/index.js";

describe.each(FED_SCENARIOS.map((s) => [s.name, s] as const))(
  "federation world %s",
  (_n, scenario) => {
    it("holds every invariant at seed 1 and acknowledges writes", async () => {
      const r = await runFedScenario({ scenario, seed: 1n });
      expect(r.violations.map((v) => `${v.invariant}: ${v.detail}`)).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.notes.acked ?? 0).toBeGreaterThan(0);
    });
  },
);

it("replays a seed to the same trace and state digests, and another seed differs", async () => {
  const scenario = fedScenarioByName("fed_transfer")!;
  const a = await runFedScenario({ scenario, seed: 2n });
  const b = await runFedScenario({ scenario, seed: 2n });
  const c = await runFedScenario({ scenario, seed: 3n });
  expect(b.traceDigest).toBe(a.traceDigest);
  expect(b.stateDigest).toBe(a.stateDigest);
  expect(c.traceDigest).not.toBe(a.traceDigest);
});

describe.each(FED_CANARIES.map((c) => [c.name, c] as const))("federation canary %s", (name, c) => {
  it("is caught within seeds 1-5 of its scenarios", async () => {
    let caught = false;
    search: for (const scenarioName of c.scenarios) {
      const scenario = fedScenarioByName(scenarioName)!;
      for (const seed of [1n, 2n, 3n, 4n, 5n]) {
        const r = await runFedScenario({ scenario, seed, canaries: [name] });
        if (!r.ok) {
          expect(r.violations.length).toBeGreaterThan(0);
          caught = true;
          break search;
        }
      }
    }
    expect(caught).toBe(true);
  });
});
