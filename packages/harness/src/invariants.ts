/**
 * The invariants of DESIGN §8, checked against what the world recorded and what the hub's
 * LMDB directory holds (its durable log). Safety invariants may be checked at any point
 * while the hub is up; convergence is checked after the faults heal.
 *
 * - log_shape: the durable log is gap-free, HLC stamps strictly increase (DESIGN §4) and no
 *   (sender_id, request_id) is sequenced twice (idempotency).
 * - log_prefix: every sequenced frame a client received is, byte for byte, the hub's frame
 *   at that log_index (each client's log is a prefix of the hub's order).
 * - ack_durable: every ACKed sequenced request is in the durable log after any crash.
 * - delivered_agree: members that delivered a log_index delivered the same plaintext, and a
 *   plaintext is delivered at one log_index only.
 * - epoch_tree_hash: members of an epoch agree on its tree hash (checked as events arrive).
 * - removed_reads_nothing: a removed member decrypts nothing sent after its removal (until
 *   it is added back, if it is).
 * - no_external_join_during_removal: no external commit is accepted while a removal is
 *   pending (DESIGN §4, §6).
 * - erased_unrecoverable: an erased message's key is in no byte of any file, its payload
 *   reads back as a tombstone, and the hub never serves it again (copies sent before the
 *   erasure may still arrive late: the network cannot be recalled).
 * - convergence: after healing, every live member has the hub's epoch, tree hash,
 *   membership and head, and delivered every message sent since it joined.
 */

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodePayload, Flag, FrameHeader, Opcode, toHex } from "@kalandra/proto";
import type { StoredFrame } from "@kalandra/server";
import type { World } from "./world.js";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface HeaderInfo {
  flags: number;
  opcode: number;
  requestId: number;
  senderId: bigint;
  logIndex: bigint;
  hlcTimestamp: bigint;
  epoch: bigint;
}

/** The header fields the invariants read, copied out (stored headers may be reused views). */
export function headerInfo(h: Uint8Array): HeaderInfo {
  const v = FrameHeader.view(h);
  return {
    flags: v.flags,
    opcode: v.opcode,
    requestId: v.requestId,
    senderId: v.senderId,
    logIndex: v.logIndex,
    hlcTimestamp: v.hlcTimestamp,
    epoch: v.epoch,
  };
}

/**
 * One read of a room's durable log. Every write reaches LMDB through the SimDisk's fsync
 * events and each hub incarnation opens a new LMDB handle, so (handle, fsync count) names
 * a version of the log: the safety checks every 2 virtual seconds reread it only when an
 * fsync ran since (an idle chat reads it a few dozen times instead of every check), and
 * what a check proved about an unchanged version is not proved again.
 */
interface LogVersion {
  lmdb: object;
  fsyncs: number;
  log: StoredFrame[];
  /** hex(header) and sha256(payload) per entry, computed once per version. */
  headerHex: (string | undefined)[];
  payloadSha: (string | null | undefined)[];
  /** Decoded headers per entry, computed once per version. */
  infos: (HeaderInfo | undefined)[];
  /** The log_shape checks passed on this version (a failing version is checked again). */
  shapeOk: boolean;
  /** Likewise no_external_join_during_removal, which only looks at the log. */
  externalOk: boolean;
}

/** The decoded header of `log[i]`, memoised in its version. */
function infoAt(log: StoredFrame[], infos: (HeaderInfo | undefined)[], i: number): HeaderInfo {
  let h = infos[i];
  if (h === undefined) {
    h = headerInfo((log[i] as StoredFrame).header);
    infos[i] = h;
  }
  return h;
}

const versions = new WeakMap<World, Map<bigint, LogVersion>>();
/** Sequenced frames a client received that matched the hub's log in the given version. */
const prefixOk = new WeakMap<object, LogVersion>();

function logVersion(w: World, roomId: bigint): LogVersion | undefined {
  const s = w.hub.lmdb;
  if (s === undefined) return undefined;
  const fsyncs = w.hub.disk?.fsyncs ?? -1;
  let byRoom = versions.get(w);
  if (byRoom === undefined) {
    byRoom = new Map();
    versions.set(w, byRoom);
  }
  const v = byRoom.get(roomId);
  if (v !== undefined && v.lmdb === s && v.fsyncs === fsyncs) return v;
  const log = s.readRange(roomId, 0n, 1_000_000);
  const fresh: LogVersion = {
    lmdb: s,
    fsyncs,
    log,
    headerHex: [],
    payloadSha: [],
    infos: [],
    shapeOk: false,
    externalOk: false,
  };
  byRoom.set(roomId, fresh);
  return fresh;
}

/** The room's durable log (empty while the hub is down). Callers must not modify it. */
export function hubLog(w: World, roomId: bigint): StoredFrame[] {
  return logVersion(w, roomId)?.log ?? [];
}

/** An erasure the world made durable, for `erased_unrecoverable`. */
export interface ErasureRecord {
  roomId: bigint;
  logIndex: bigint;
  key: Uint8Array;
}

/** Runs every safety invariant over one room; returns the number of violations added. */
export function checkSafety(w: World, roomId: bigint): number {
  if (!w.hub.up) return 0;
  const before = w.violations.length;
  const version = logVersion(w, roomId);
  const log = version?.log ?? [];
  if (version === undefined || !version.shapeOk) {
    const shapeBefore = w.violations.length;
    checkLogShape(w, roomId, log);
    if (version !== undefined) version.shapeOk = w.violations.length === shapeBefore;
  }
  checkPrefix(w, roomId, version);
  const infos = version?.infos ?? [];
  checkAcks(w, roomId, log, infos);
  checkDelivered(w, roomId, log, infos);
  checkRemoved(w, roomId);
  if (version === undefined || !version.externalOk) {
    const externalBefore = w.violations.length;
    checkExternalDuringRemoval(w, roomId, log, infos);
    if (version !== undefined) version.externalOk = w.violations.length === externalBefore;
  }
  return w.violations.length - before;
}

function checkLogShape(w: World, roomId: bigint, log: StoredFrame[]): void {
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

function checkPrefix(w: World, roomId: bigint, version: LogVersion | undefined): void {
  const prefix = `${roomId}:`;
  const log = version?.log ?? [];
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

function checkAcks(
  w: World,
  roomId: bigint,
  log: StoredFrame[],
  infos: (HeaderInfo | undefined)[],
): void {
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

function checkDelivered(
  w: World,
  roomId: bigint,
  log: StoredFrame[],
  infos: (HeaderInfo | undefined)[],
): void {
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

function checkRemoved(w: World, roomId: bigint): void {
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

function checkExternalDuringRemoval(
  w: World,
  roomId: bigint,
  log: StoredFrame[],
  infos: (HeaderInfo | undefined)[],
): void {
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

/** Checks every erasure the world made: no key bytes on disk, tombstones. */
export function checkErasures(w: World, erasures: readonly ErasureRecord[]): void {
  if (erasures.length === 0 || !w.hub.up) return;
  const files = listFiles(w.dir).map((p) => readFileSync(p));
  for (const e of erasures) {
    const f = hubLog(w, e.roomId)[Number(e.logIndex)];
    if (f !== undefined && f.payload !== null) {
      w.violation("erased_unrecoverable", `log_index ${e.logIndex} still reads back a payload`);
    }
    const key = Buffer.from(e.key);
    if (files.some((b) => b.indexOf(key) >= 0)) {
      w.violation("erased_unrecoverable", `the key of log_index ${e.logIndex} is still on disk`);
    }
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

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
