/**
 * The invariants of DESIGN §8, checked against what the world recorded and what the hub's
 * LMDB directory holds (its durable log), and the one registry of the safety checks.
 * Safety invariants may be checked at any point while the hub is up; convergence is checked
 * after the faults heal. Each group of checks lives in invariants/:
 *
 * - logChecks.ts: log_shape, no_external_join_during_removal (the durable log alone).
 * - clientChecks.ts: log_prefix, ack_durable, delivered_agree, removed_reads_nothing (what
 *   clients received, were ACKed and delivered, against the log).
 * - observations.ts (as events arrive): epoch_tree_hash, members of an epoch agree on its
 *   tree hash.
 * - erasure.ts: erased_unrecoverable.
 * - convergence.ts: convergence.
 * - identityChecks.ts: leaf_owner, room_access (every tree of the room against the
 *   identity provider and the access ledger), session_owner (as sessions authenticate).
 * - hubLog.ts: the versions of the durable log the checks read.
 */
import { checkAcks, checkDelivered, checkPrefix, checkRemoved } from "./invariants/clientChecks.js";
import { type LogVersion, logVersion, type SafetyContext } from "./invariants/hubLog.js";
import { checkLeaves } from "./invariants/identityChecks.js";
import { checkExternalDuringRemoval, checkLogShape } from "./invariants/logChecks.js";
import type { World } from "./world.js";

export { awaitConvergence, convergenceGaps } from "./invariants/convergence.js";
export { checkErasures, type ErasureRecord } from "./invariants/erasure.js";
export { type HeaderInfo, headerInfo, hubLog } from "./invariants/hubLog.js";

interface SafetyInvariant {
  check: (ctx: SafetyContext) => void;
  /**
   * For checks that read only the log: the flag of a log version that records a pass, so
   * an unchanged version is not checked again (a failing one is).
   */
  passed?: "shapeOk" | "externalOk";
}

/** The safety invariants, in the order they run. */
const SAFETY: readonly SafetyInvariant[] = [
  { check: checkLogShape, passed: "shapeOk" },
  { check: checkPrefix },
  { check: checkAcks },
  { check: checkDelivered },
  { check: checkRemoved },
  { check: checkExternalDuringRemoval, passed: "externalOk" },
  { check: checkLeaves },
];

/** Runs every safety invariant over one room; returns the number of violations added. */
export function checkSafety(w: World, roomId: bigint): number {
  if (!w.hub.up) return 0;
  const before = w.violations.length;
  const version: LogVersion | undefined = logVersion(w, roomId);
  const ctx: SafetyContext = {
    w,
    roomId,
    version,
    log: version?.log ?? [],
    infos: version?.infos ?? [],
  };
  for (const { check, passed } of SAFETY) {
    if (passed !== undefined && version?.[passed] === true) continue;
    const checkBefore = w.violations.length;
    check(ctx);
    if (passed !== undefined && version !== undefined) {
      version[passed] = w.violations.length === checkBefore;
    }
  }
  return w.violations.length - before;
}
