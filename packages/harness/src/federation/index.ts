/** Federation worlds (issue 18): several hubs, one room, the authority moving between them. */
export { FED_CANARIES, FED_HUB_CANARIES } from "./fedCanaries.js";
export {
  applyFedPlan,
  type FedPlan,
  type FedPlanSpec,
  fedPlanArbitrary,
  fedPlanFor,
} from "./fedPlan.js";
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
export { authorityOf, checkFedSafety, fedHubGaps } from "./hubChecks.js";
export {
  FED_HUB_SCENARIOS,
  type FedHubRun,
  type FedHubRunOptions,
  type FedHubScenario,
  fedHubScenarioByName,
  fedHubs,
  fedHubsChurn,
  fedHubsFailover,
  fedHubsPartition,
  fedHubsTransfer,
  runFedHubScenario,
} from "./hubScenarios.js";
export { FedHubWorld, type FedHubWorldOptions, hubDomain } from "./hubWorld.js";
export { LINK_TIMING, SimHubLinks } from "./simLinks.js";
