/**
 * convergence: after healing, every live member has the hub's epoch, tree hash, membership
 * and head, and delivered every message sent since it joined.
 */
import { Opcode, toHex } from "@kalandra/proto";
import type { World } from "../world.js";
import { headerInfo, hubLog } from "./hubLog.js";

/**
 * What still keeps the room from having converged (empty = converged): every live member
 * the hub lists sits at the hub's epoch, tree hash, membership and head, and delivered
 * every message of the log since it joined.
 */
export function convergenceGaps(w: World, roomId: bigint): string[] {
  const gaps: string[] = [];
  const room = w.hub.room(roomId);
  if (room === undefined) return ["hub is down"];
  const log = hubLog(w, roomId);
  const commitAt = new Map<bigint, number>();
  const messages: number[] = [];
  log.forEach((f, i) => {
    const h = headerInfo(f.header);
    if (h.opcode === Opcode.COMMIT || h.opcode === Opcode.EXTERNAL_COMMIT) {
      commitAt.set(h.epoch + 1n, i);
    } else if (h.opcode === Opcode.APP_MESSAGE && f.payload !== null) messages.push(i);
  });
  const members = new Set(room.members());
  const treeHash = toHex(room.treeHash);
  for (const c of w.clients.values()) {
    if (!members.has(c.senderId)) continue;
    if (c.down || c.client === undefined) continue;
    const view = c.client.room(roomId);
    if (view === undefined) {
      gaps.push(`${c.name} does not know the room`);
      continue;
    }
    if (view.phase.kind !== "synchronized") gaps.push(`${c.name} is ${view.phase.kind}`);
    if (view.epoch !== room.epoch) gaps.push(`${c.name} at epoch ${view.epoch}/${room.epoch}`);
    else if (view.treeHash === undefined || toHex(view.treeHash) !== treeHash) {
      gaps.push(`${c.name} has another tree hash at epoch ${view.epoch}`);
    }
    if (view.members.length !== members.size) {
      gaps.push(`${c.name} sees ${view.members.length} members, hub ${members.size}`);
    }
    if (view.nextLogIndex !== BigInt(log.length)) {
      gaps.push(`${c.name} applied up to ${view.nextLogIndex}, head ${log.length}`);
    }
    const joined = c.joinedAt.get(roomId);
    const from = joined === undefined ? 0 : (commitAt.get(joined) ?? 0);
    const got = c.delivered.get(roomId);
    const missing = messages.filter((i) => i > from && !got?.has(BigInt(i)));
    if (missing.length > 0) {
      gaps.push(`${c.name} misses ${missing.length} messages (first log_index ${missing[0]})`);
    }
  }
  return gaps;
}

/**
 * Runs until the room converged or `boundMs` of virtual time passed; a room that did not
 * converge is a `convergence` violation (liveness after healing).
 */
export async function awaitConvergence(w: World, roomId: bigint, boundMs: number): Promise<void> {
  const step = 1000;
  for (let t = 0; t <= boundMs; t += step) {
    if (w.hub.up && convergenceGaps(w, roomId).length === 0) return;
    await w.runFor(step);
  }
  const gaps = convergenceGaps(w, roomId);
  if (gaps.length > 0) {
    w.violation("convergence", `not converged ${boundMs} ms after healing: ${gaps.join("; ")}`);
  }
}
