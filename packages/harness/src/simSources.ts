/**
 * Entering and leaving a simulated world: the determinism guards, the seeded stand-ins
 * third-party code gets for time and randomness, and the run's canaries. Every world
 * (the single hub's and the federation's) enters the same way.
 */
import { setCanaries } from "@kalandra/proto/testing";
import { installDeterminismGuards, setSimulationSources } from "./guards.js";
import type { SeededRng } from "./rng.js";

export interface SimulationEntry {
  /** Virtual time now (ms). */
  nowMs(): bigint;
  /** The stream third-party code draws from (a fork of the world's seed). */
  rng: SeededRng;
  /** Called when a core reaches for an un-injected source. */
  violation(invariant: string, detail: string): void;
  canaries: readonly string[];
}

/** Installs guards, sources and canaries; returns what undoes all three. */
export function enterSimulation(e: SimulationEntry): () => void {
  const release = installDeterminismGuards();
  setSimulationSources({
    nowMs: () => Number(e.nowMs()),
    random: () => e.rng.float(),
    fill: (a) => a.set(e.rng.bytes(a.length)),
    refused: (what) => e.violation("determinism", `a core called ${what}`),
  });
  setCanaries(e.canaries);
  return () => {
    setCanaries([]);
    setSimulationSources(undefined);
    release();
  };
}
