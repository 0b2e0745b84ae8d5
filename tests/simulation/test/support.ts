/** Shared helpers of the simulation suites: seed batches and failure reports. */
import { type RunResult, replayCommand } from "@kalandra/harness";

/** Fixed CI seeds per scenario (each run twice: the trace digests must be identical). */
export const CI_SEEDS: readonly bigint[] = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n];

/**
 * A bounded random batch on top of the fixed seeds; SIM_RANDOM_SEEDS sets its size
 * (default 3 per scenario), SIM_RANDOM_BASE its first seed (default: drawn, printed).
 */
export function randomSeeds(): bigint[] {
  const n = Number(process.env.SIM_RANDOM_SEEDS ?? 3);
  const base =
    process.env.SIM_RANDOM_BASE !== undefined
      ? BigInt(process.env.SIM_RANDOM_BASE)
      : BigInt(1000 + Math.floor(Math.random() * 1_000_000_000));
  return Array.from({ length: n }, (_, i) => base + BigInt(i));
}

/** One line per failing run with its violations and the command that replays it. */
export function report(
  results: readonly Pick<RunResult, "ok" | "scenario" | "seed" | "violations" | "canaries">[],
): string {
  return results
    .filter((r) => !r.ok)
    .map(
      (r) =>
        `${r.scenario} seed ${r.seed}: ${r.violations
          .slice(0, 3)
          .map((v) => `${v.invariant}: ${v.detail}`)
          .join(" | ")}\n  replay: ${replayCommand(r)}`,
    )
    .join("\n");
}
