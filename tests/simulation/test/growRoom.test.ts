/**
 * `grow_room` over a few fixed seeds, each twice (same trace and state digests): a room
 * growing past 30 members with updates, removals and re-adds, every joiner getting in
 * (issue 13). Fewer seeds than the other scenarios: one run is ~36 clients and ~50 commits.
 */
import { type RunResult, runScenario } from "@kalandra/harness";
import { describe, expect, it } from "vitest";
import { growRoom } from "./growRoom.js";

const SEEDS = [1n, 2n];

function report(results: readonly RunResult[]): string {
  return results
    .filter((r) => !r.ok)
    .map(
      (r) =>
        `grow_room seed ${r.seed}: ${r.violations
          .slice(0, 3)
          .map((v) => `${v.invariant}: ${v.detail}`)
          .join(" | ")}`,
    )
    .join("\n");
}

describe("scenario grow_room", () => {
  it(`every joiner gets in over seeds ${SEEDS.join(",")}, deterministically`, async () => {
    const results: RunResult[] = [];
    for (const seed of SEEDS) {
      const a = await runScenario({ scenario: growRoom, seed });
      const b = await runScenario({ scenario: growRoom, seed });
      expect(b.traceDigest, `seed ${seed}: same seed, different trace`).toBe(a.traceDigest);
      expect(b.stateDigest, `seed ${seed}: same seed, different state`).toBe(a.stateDigest);
      results.push(a);
    }
    expect(report(results), "invariant violations").toBe("");
    for (const r of results) {
      // The room really grew past 30 with members coming and going.
      expect(r.notes.members).toBe(36);
      expect(r.notes.remove_ok).toBeGreaterThanOrEqual(2);
      expect((r.notes.readd_ok ?? 0) + (r.notes.rejoin_ok ?? 0)).toBe(r.notes.remove_ok);
    }
  }, 600_000);
});
