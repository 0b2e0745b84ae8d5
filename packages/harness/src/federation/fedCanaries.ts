/**
 * The bugs planted in the federation cores (server federation/authority, behind
 * `canary(name)`), what each breaks and which federation scenarios find it.
 */
import type { CanaryInfo } from "../canaries.js";

export const FED_CANARIES: readonly CanaryInfo[] = [
  {
    name: "vote_twice",
    description: "a hub votes for a second proposal in a term it already voted in",
    scenarios: ["fed_election", "fed_partition"],
  },
  {
    name: "deposed_keeps_sequencing",
    description: "an authority that adopts its successor's certificate keeps sequencing",
    scenarios: ["fed_failover", "fed_transfer"],
  },
  {
    name: "replica_skips_position_check",
    description: "a replica appends what the authority sends at its own end, unchecked",
    scenarios: ["fed_transfer", "fed_partition"],
  },
];
