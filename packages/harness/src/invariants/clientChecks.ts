/**
 * The invariants that compare what clients received, were ACKed and delivered with the
 * hub's durable log:
 * - log_prefix: every sequenced frame a client received is, byte for byte, the hub's frame
 *   at that log_index (each client's log is a prefix of the hub's order).
 * - ack_durable: every ACKed sequenced request is in the durable log after any crash.
 * - delivered_agree: members that delivered a log_index delivered the same plaintext, and a
 *   plaintext is delivered at one log_index only.
 * - removed_reads_nothing: a removed member decrypts nothing sent after its removal (until
 *   it is added back, if it is).
 */
import { createHash } from "node:crypto";
import { Opcode, toHex } from "@kalandra/proto";
import type { ClientNode } from "../clientNode.js";
import { infoAt, type LogVersion, type SafetyContext } from "./hubLog.js";

/** What the client checks read of a world (the single hub's, or a federation's with real hubs). */
export interface ClientWorld {
  readonly clients: ReadonlyMap<string, ClientNode>;
  violation(invariant: string, detail: string): void;
  removalEpoch(roomId: bigint, user: string): bigint | undefined;
  removedIn(roomId: bigint, user: string, epoch: bigint): boolean;
}

/** One room's durable log (the hub's, or the room's authority's) as the client checks read it. */
export interface ClientCheckContext {
  w: ClientWorld;
  roomId: bigint;
  log: SafetyContext["log"];
  infos: SafetyContext["infos"];
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Sequenced frames a client received that matched the hub's log in the given version. */
const prefixOk = new WeakMap<object, LogVersion>();

export function checkPrefix({ w, roomId, version, log }: SafetyContext): void {
  const prefix = `${roomId}:`;
  for (const c of w.clients.values()) {
    for (const [key, seen] of c.seen) {
      if (version !== undefined && prefixOk.get(seen) === version) continue;
      if (!key.startsWith(prefix)) continue;
      const idx = Number(key.slice(prefix.length));
      const f = log[idx];
      if (f === undefined) {
        w.violation(
          "log_prefix",
          `${c.name} received log_index ${idx} of room ${roomId}, beyond the hub's durable head ${log.length}`,
        );
        continue;
      }
      const v = version as LogVersion;
      const headerHex = v.headerHex[idx] ?? toHex(f.header);
      v.headerHex[idx] = headerHex;
      let same = headerHex === toHex(seen.header);
      if (same && f.payload !== null && seen.payload !== null) {
        const payloadSha = v.payloadSha[idx] ?? sha(f.payload);
        v.payloadSha[idx] = payloadSha;
        same = payloadSha === seen.payload;
      }
      if (!same) {
        w.violation("log_prefix", `${c.name} received another frame at log_index ${idx}`);
      } else prefixOk.set(seen, v);
    }
  }
}

export function checkAcks({ w, roomId, log, infos }: ClientCheckContext): void {
  for (const c of w.clients.values()) {
    for (const a of c.acks) {
      if (a.roomId !== roomId) continue;
      const i = Number(a.logIndex);
      const h = log[i] === undefined ? undefined : infoAt(log, infos, i);
      if (h === undefined || h.senderId !== c.senderId || h.requestId !== a.requestId) {
        w.violation(
          "ack_durable",
          `${c.name}'s request ${a.requestId} was ACKed at log_index ${a.logIndex} but is not there`,
        );
      }
    }
  }
}

export function checkDelivered({ w, roomId, log, infos }: ClientCheckContext): void {
  const byIndex = new Map<bigint, { text: string; by: string }>();
  const byText = new Map<string, bigint>();
  for (const c of w.clients.values()) {
    for (const d of c.delivered.get(roomId)?.values() ?? []) {
      const prev = byIndex.get(d.logIndex);
      if (prev !== undefined && prev.text !== d.text) {
        w.violation(
          "delivered_agree",
          `log_index ${d.logIndex}: ${c.name} delivered "${d.text}", ${prev.by} "${prev.text}"`,
        );
      }
      byIndex.set(d.logIndex, { text: d.text, by: c.name });
      const at = byText.get(d.text);
      if (at !== undefined && at !== d.logIndex) {
        w.violation(
          "delivered_agree",
          `"${d.text}" delivered at log_index ${at} and ${d.logIndex}`,
        );
      }
      byText.set(d.text, d.logIndex);
      const i = Number(d.logIndex);
      if (log[i] !== undefined) {
        const h = infoAt(log, infos, i);
        if (h.opcode !== Opcode.APP_MESSAGE || h.senderId !== d.senderId || h.epoch !== d.epoch) {
          w.violation(
            "delivered_agree",
            `${c.name} delivered log_index ${d.logIndex} as a message the hub does not hold there`,
          );
        }
      }
    }
    if (c.duplicates.length > 0) {
      w.violation("delivered_agree", `${c.name} delivered ${c.duplicates[0]} twice`);
      c.duplicates.length = 0;
    }
  }
}

export function checkRemoved({ w, roomId }: Pick<ClientCheckContext, "w" | "roomId">): void {
  for (const c of w.clients.values()) {
    const removal = w.removalEpoch(roomId, c.name);
    if (removal === undefined) continue;
    for (const d of c.delivered.get(roomId)?.values() ?? []) {
      if (d.epoch >= removal && w.removedIn(roomId, c.name, d.epoch)) {
        w.violation(
          "removed_reads_nothing",
          `${c.name} was removed at epoch ${removal} but decrypted log_index ${d.logIndex} of epoch ${d.epoch}`,
        );
      }
    }
  }
}
