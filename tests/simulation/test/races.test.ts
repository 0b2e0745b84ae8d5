/**
 * The races the scenarios are built around really happen (not only "nothing broke"):
 * the joiner's external commit meets the pending removal and is refused with
 * MUST_INCLUDE_PENDING_REMOVALS, and five simultaneous proposals end in one commit.
 */
import { kickRace, NO_FAULTS, propose5, runScenario } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { CI_SEEDS, report } from "./support.js";

describe("races", () => {
  it("refuses the joiner's external commit while the removal is pending", async () => {
    for (const seed of CI_SEEDS.slice(0, 3)) {
      const r = await runScenario({ scenario: kickRace, seed, plan: NO_FAULTS });
      expect(report([r])).toBe("");
      expect(r.notes.refusedJoins ?? 0, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it("yields one commit for five simultaneous proposals", async () => {
    for (const seed of CI_SEEDS.slice(0, 3)) {
      const r = await runScenario({ scenario: propose5, seed, plan: NO_FAULTS });
      expect(report([r])).toBe("");
      // The setup commit that added everyone, then the one commit removing all five.
      expect(r.notes.commits, `seed ${seed}`).toBe(2);
    }
  });
});
