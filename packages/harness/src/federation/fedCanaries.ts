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

/** The bugs planted for the world of real hubs (hubWorld.ts), and which of its scenarios find each. */
export const FED_HUB_CANARIES: readonly CanaryInfo[] = [
  {
    name: "vote_twice",
    description:
      "a hub votes for a second proposal in a term it already voted in (termState.ts decideVote, the real hubs' too)",
    scenarios: ["fed_hubs_failover", "fed_hubs_transfer"],
  },
  {
    name: "deposed_keeps_sequencing",
    description:
      "a deposed authority adopts its successor's certificate and keeps sequencing in the new term (roomTransfers.ts adopt)",
    scenarios: ["fed_hubs_failover"],
  },
  {
    name: "replica_skips_position_check",
    description: "a replica appends what the authority sends at its own end, unchecked",
    scenarios: ["fed_hubs", "fed_hubs_partition"],
  },
  {
    name: "replica_trusts_unverified_term",
    description: "a replica takes a peer's higher term without its certificate chain",
    scenarios: ["fed_hubs"],
  },
  {
    name: "relay_ignores_bans",
    description: "a hub relays to its devices the messages and presence of a user it banned",
    scenarios: ["fed_hubs"],
  },
];
