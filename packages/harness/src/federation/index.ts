/** Federation worlds (issue 18): several hubs, one room, the authority moving between them. */
export { FED_CANARIES } from "./fedCanaries.js";
export { type FedPlan, type FedPlanSpec, fedPlanArbitrary, fedPlanFor } from "./fedPlan.js";
export {
  FED_SCENARIOS,
  type FedRunOptions,
  type FedRunResult,
  type FedScenario,
  fedElection,
  fedFailover,
  fedLocal,
  fedPartition,
  fedScenarioByName,
  fedTransfer,
  runFedScenario,
} from "./fedScenarios.js";
export { FedWorld, type FedWorldOptions } from "./fedWorld.js";
