/**
 * The malicious_member / impostor scenario family (issue 12): attacks on identity
 * (identityAttacks.ts) and on room access (accessAttacks.ts). `IMPOSTOR_SCENARIOS` are the
 * attacks the hub refuses today, run by CI and the swarm with every other scenario;
 * `PENDING_ATTACKS` replay attacks that still succeed until the rest of issue 12 lands
 * (`pnpm sim --scenario <name>`; each fails today with the invariant named in
 * docs/simulation.md), to move into `IMPOSTOR_SCENARIOS` as each is refused.
 */
import type { Scenario } from "../scenario.js";
import { bannedRejoin, kickedRejoin, kpDrain, uninvitedJoin } from "./accessAttacks.js";
import { ghostAdd, impostorHello, impostorKp } from "./identityAttacks.js";

export const IMPOSTOR_SCENARIOS: readonly Scenario[] = [
  impostorKp,
  impostorHello,
  ghostAdd,
  bannedRejoin,
  // Refused since rooms admit only whom they invite (docs/protocol.md "Room access").
  uninvitedJoin,
  kickedRejoin,
  // Refused since each device keeps a last-resort key package (the inbox part).
  kpDrain,
];

export const PENDING_ATTACKS: readonly Scenario[] = [];
