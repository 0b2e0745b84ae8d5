/**
 * @kalandra/harness — deterministic simulation (DESIGN §8, docs/simulation.md): the real
 * server and client cores on a virtual clock over a lossy network, with crashes,
 * partitions and planted bugs (canaries). Private to the workspace: tests/simulation,
 * tools/sim.ts and the benches use it.
 *
 * @example
 * import { runScenario, scenarioByName } from "@kalandra/harness";
 * const r = await runScenario({ scenario: scenarioByName("chat10"), seed: 1n });
 * if (!r.ok) console.log(r.violations);
 */

// Who may hold a leaf in a room (room_access) and the attacker that speaks raw frames.
export { RoomAccess } from "./access.js";
export { type Answer, forgeKeyPackage, keyPackageMessage, RawDevice } from "./attacker.js";
// Planted bugs the simulation must catch.
export { CANARIES, type CanaryInfo } from "./canaries.js";
// Fault plans: message loss, partitions, crashes.
export {
  type FaultEvent,
  type FaultKind,
  type FaultPlan,
  NO_FAULTS,
  type PlanSpec,
  planArbitrary,
  planFor,
} from "./faults.js";
// Federation worlds: 2–5 hubs, one room, transfers and failovers (issue 18).
export * from "./federation/index.js";
// The building blocks: scheduler, network, randomness, trace, determinism guards.
export {
  DeterminismViolation,
  installDeterminismGuards,
  setSimulationSources,
} from "./guards.js";
// The simulation's identity provider: device key → user, the hub's Authenticator.
export { SIM_AUTH_METHOD, SimIdentity } from "./identity.js";
// The impostor family (issue 12): attacks refused today, and those still to be refused.
export {
  IMPOSTOR_SCENARIOS,
  PENDING_ATTACKS,
} from "./impostor/index.js";
export { sessionAttached } from "./invariants/identityChecks.js";
// The simulated world (hub, clients, network on one scheduler) and its safety check.
export { checkSafety } from "./invariants.js";
export { type LinkFaults, PERFECT_LINK, SimNetwork } from "./network.js";
export { SeededRng } from "./rng.js";
// Scenarios and runs: one seed, one deterministic run, a digest of its trace.
export {
  digestState,
  planSpec,
  type RunOptions,
  type RunResult,
  replayCommand,
  runScenario,
  type Scenario,
  type ScenarioRun,
} from "./scenario.js";
export {
  ALL_SCENARIOS,
  chat10,
  chat10Slow,
  hubCrash,
  kickRace,
  partition,
  propose5,
  SCENARIOS,
  scenarioByName,
  silentPartition,
} from "./scenarios.js";
export { Scheduler, type SchedulerOptions, SimulationBudgetError } from "./scheduler.js";
// Many seeds: swarm testing, shrinking a failing seed, saving it as a regression.
export {
  type Regression,
  type ShrinkOptions,
  type Shrunk,
  shrinkSeed,
  swarmScenario,
  toRegression,
} from "./swarm.js";
export { Trace } from "./trace.js";
export { type Violation, World, type WorldOptions } from "./world.js";
