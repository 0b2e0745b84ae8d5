/**
 * Keep-alive on the virtual clock (issue 15): the shipped client and hub rules run in the
 * simulation; a member cut off both ways declares the hub dead and reconnects, the hub
 * closes the session of a member it no longer hears, and both catch up after healing with
 * every invariant holding.
 */
import { NO_FAULTS, runScenario, silentPartition } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { CI_SEEDS, report } from "./support.js";

describe("keep-alive", () => {
  it("drops silent links on both sides and the members catch up", async () => {
    for (const seed of CI_SEEDS.slice(0, 2)) {
      const r = await runScenario({ scenario: silentPartition, seed, plan: NO_FAULTS });
      expect(report([r])).toBe("");
      expect(r.notes.u2HubSilent, `seed ${seed}`).toBeGreaterThan(0);
      expect(r.notes.u3IdleClosed, `seed ${seed}`).toBeGreaterThan(0);
    }
  });
});
