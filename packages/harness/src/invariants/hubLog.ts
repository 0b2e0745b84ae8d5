/**
 * The hub's durable log as the invariants read it: one read per version of the log, with
 * the decoded headers and digests the checks need memoised in that version.
 */
import { FrameHeader } from "@kalandra/proto";
import type { StoredFrame } from "@kalandra/server";
import type { World } from "../world.js";

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
export interface LogVersion {
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

/** What one safety check of one room reads: the world and the room's current log version. */
export interface SafetyContext {
  w: World;
  roomId: bigint;
  /** Undefined while the hub has no LMDB handle; `log` and `infos` are then empty. */
  version: LogVersion | undefined;
  log: StoredFrame[];
  infos: (HeaderInfo | undefined)[];
}

/** The decoded header of `log[i]`, memoised in its version. */
export function infoAt(
  log: StoredFrame[],
  infos: (HeaderInfo | undefined)[],
  i: number,
): HeaderInfo {
  let h = infos[i];
  if (h === undefined) {
    h = headerInfo((log[i] as StoredFrame).header);
    infos[i] = h;
  }
  return h;
}

const versions = new WeakMap<World, Map<bigint, LogVersion>>();

export function logVersion(w: World, roomId: bigint): LogVersion | undefined {
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
