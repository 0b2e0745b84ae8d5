/**
 * The invariants that read the hub's durable log alone:
 * - log_shape: the log is gap-free, HLC stamps strictly increase (DESIGN §4), no
 *   (sender_id, request_id) is sequenced twice and no sender key is used twice.
 * - no_external_join_during_removal: no external commit is accepted while a removal is
 *   pending (DESIGN §4, §6).
 */
import { decodePayload, Flag, Opcode } from "@kalandra/proto";
import { headerInfo, infoAt, type SafetyContext } from "./hubLog.js";

export function checkLogShape({ w, roomId, log }: SafetyContext): void {
  let lastHlc = -1n;
  const requests = new Set<string>();
  const generations = new Set<string>();
  log.forEach((f, i) => {
    const h = headerInfo(f.header);
    if (f.logIndex !== BigInt(i) || h.logIndex !== BigInt(i)) {
      w.violation("log_shape", `room ${roomId}: entry ${i} holds log_index ${h.logIndex}`);
    }
    if (h.hlcTimestamp <= lastHlc) {
      w.violation("log_shape", `room ${roomId}: hlc goes back at log_index ${i}`);
    }
    lastHlc = h.hlcTimestamp;
    if (h.senderId !== 0n) {
      const k = `${h.senderId}:${h.requestId}`;
      if (requests.has(k)) {
        w.violation("log_shape", `room ${roomId}: request ${k} sequenced twice (log_index ${i})`);
      }
      requests.add(k);
    }
    if (h.opcode === Opcode.APP_MESSAGE && f.payload !== null) {
      // A sender key is used once (DESIGN §7): one (sender, epoch, generation) per log.
      const { generation } = decodePayload(Opcode.APP_MESSAGE, f.payload);
      const g = `${h.senderId}:${h.epoch}:${generation}`;
      if (generations.has(g)) {
        w.violation("log_shape", `room ${roomId}: sender key ${g} used twice (log_index ${i})`);
      }
      generations.add(g);
    }
  });
}

export function checkExternalDuringRemoval({ w, roomId, log, infos }: SafetyContext): void {
  let removalPendingAt: bigint | undefined;
  for (let i = 0; i < log.length; i++) {
    const h = infoAt(log, infos, i);
    if (h.opcode === Opcode.PROPOSAL && h.senderId === 0n && (h.flags & Flag.EXTERNAL) !== 0) {
      removalPendingAt = h.epoch;
    } else if (h.opcode === Opcode.COMMIT) {
      removalPendingAt = undefined;
    } else if (h.opcode === Opcode.EXTERNAL_COMMIT) {
      if (removalPendingAt !== undefined && removalPendingAt === h.epoch) {
        w.violation(
          "no_external_join_during_removal",
          `room ${roomId}: external commit at log_index ${h.logIndex} accepted while a removal was pending`,
        );
      }
      removalPendingAt = undefined;
    }
  }
}
