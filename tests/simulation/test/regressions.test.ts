/**
 * Saved regressions (tests/simulation/regressions/*.json): a seed and the shrunk fault plan
 * of a run that once failed. Each is replayed and must now hold every invariant.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Regression, runScenario, scenarioByName } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { report } from "./support.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "regressions");
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("regressions", () => {
  it("has at least one saved case", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)("%s replays clean", async (file) => {
    const reg = JSON.parse(readFileSync(join(dir, file), "utf8")) as Regression;
    const r = await runScenario({
      scenario: scenarioByName(reg.scenario),
      seed: BigInt(reg.seed),
      plan: reg.plan,
      ...(reg.canaries === undefined ? {} : { canaries: reg.canaries }),
    });
    expect(report([r]), reg.why).toBe("");
  });
});
