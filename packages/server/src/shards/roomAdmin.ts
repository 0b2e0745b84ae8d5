/**
 * The operator's view of one shard's rooms (admin API, moderation/roomAdmin.ts asks it
 * through shard messages): what a room is (epoch, members, log, size on disk), which rooms
 * a user or a device is in, the shard's audit chain, and room deletion, done here because
 * the shard owns the room's sequencer and storage (its own directory with worker shards).
 *
 * Room deletion (docs/operations.md "Admin API"), in this order:
 * 1. the sequencer is retired and dropped from the shard, so nothing more is sequenced;
 *    the frames it already handed to the batcher are waited for;
 * 2. one transaction writes the tombstone (`RoomMeta.deleted`) and drops the MLS state:
 *    from here on the room is never restored, answers UNKNOWN_ROOM ("deleted") and its id
 *    cannot be created again;
 * 3. every live payload is erased through `storage.secureDelete` — the vault's erase path,
 *    each erasure audited in this shard's chain like any other (DESIGN §5);
 * 4. with `dropHeaders`, the headers (and user-index rows) go as well.
 * A crash after step 2 leaves a tombstoned room with live payloads: `deleteRoom` on it
 * again (the hub does so at start, moderation/roomAdmin.ts `resumeDeletions`) finishes the
 * job, as it finishes or extends (dropping the headers kept before) any deletion.
 */
import { roleOf } from "../sequencer/roomPolicy.js";
import type { RoomSequencer } from "../sequencer/roomSequencer.js";
import type { AuditRecord, AuditVerification, RoomUsage, Storage } from "../storage/types.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";

/** What an operator sees of one room. Absent fields: the room was deleted. */
export interface RoomInfo {
  roomId: bigint;
  shard: number;
  createdAt: bigint;
  creator?: string;
  deletedAt?: bigint;
  /** Next log_index to assign (the last entry is nextIndex − 1). */
  nextIndex: bigint;
  epoch?: bigint;
  /** Member devices (leaves of the MLS tree). */
  members?: number;
  /** Distinct users among them. */
  users?: number;
  pendingProposals?: number;
  joinRule?: string;
  owners?: string[];
  admins?: string[];
  invites?: number;
  usage: RoomUsage;
}

/** One page of an audit chain with the chain's verification. */
export interface AuditPage {
  total: number;
  verification: AuditVerification;
  records: AuditRecord[];
}

/** What `deleteRoom` did. */
export interface RoomDeletion {
  erased: number;
  droppedHeaders: number;
  /** The room had been deleted before (this call finished or extended that deletion). */
  again: boolean;
  /** Its member devices when it was deleted (the hub drops their Welcomes to it). */
  members: bigint[];
}

/** What these reads and the deletion need of the shard core. */
export interface ShardRooms {
  index: number;
  storage: Storage;
  room(roomId: bigint): RoomSequencer | undefined;
  /** Removes the room's sequencer from the shard (it is retired). */
  take(roomId: bigint): RoomSequencer | undefined;
  /** Resolves once every frame handed to the shard's batcher so far is durable. */
  flushed(): Promise<void>;
  mine(roomId: bigint): boolean;
  /** The injected clock's time (ms), for the tombstone. */
  now(): bigint;
  /** Erases every blob of the room still stored (those no erased frame took with it). */
  eraseBlobs(roomId: bigint, actor: string): Promise<number>;
}

/**
 * Erasures started at once: they share LMDB commits and vault fsyncs (group commit).
 * Measured on a 20,000-frame room, synced: 256 at once erased 2,500/s, 2048 at once 8,000/s.
 */
const ERASE_WINDOW = 2048;

export function roomInfo(s: ShardRooms, roomId: bigint): RoomInfo | undefined {
  const meta = s.storage.getRoom(roomId);
  if (meta === undefined || !s.mine(roomId)) return undefined;
  const room = s.room(roomId);
  const info: RoomInfo = {
    roomId,
    shard: s.index,
    createdAt: meta.createdAt,
    nextIndex: room?.nextIndex ?? meta.deleted?.nextIndex ?? s.storage.nextIndex(roomId),
    usage: s.storage.roomUsage(roomId),
  };
  if (meta.creator !== undefined) info.creator = meta.creator;
  if (meta.deleted !== undefined) info.deletedAt = meta.deleted.at;
  if (room === undefined) return info;
  const members = room.group.members();
  const roles = [...room.policy.roles];
  info.epoch = room.epoch;
  info.members = members.length;
  info.users = new Set(members.map((m) => m.userId)).size;
  info.pendingProposals = room.pending.length;
  info.joinRule = room.policy.joinRule;
  info.owners = roles.filter(([, r]) => r === "owner").map(([u]) => u);
  info.admins = roles.filter(([, r]) => r === "admin").map(([u]) => u);
  info.invites = room.policy.invites.size;
  return info;
}

/** The shard's rooms that are not deleted (`deleted` = the tombstoned ones instead). */
export function roomIds(s: ShardRooms, deleted = false): bigint[] {
  return s.storage
    .listRooms()
    .filter((id) => s.mine(id) && (s.storage.getRoom(id)?.deleted !== undefined) === deleted);
}

/** Rooms in which the user holds a leaf or a role: its role and its devices' leaves. */
export function userRooms(
  s: ShardRooms,
  userId: string,
): { roomId: bigint; role: string | undefined; leaves: number[] }[] {
  const out: { roomId: bigint; role: string | undefined; leaves: number[] }[] = [];
  for (const roomId of roomIds(s)) {
    const room = s.room(roomId);
    if (room === undefined) continue;
    const leaves = room.group
      .members()
      .filter((m) => m.userId === userId)
      .map((m) => m.leaf);
    const role = roleOf(room.policy, userId, leaves.length > 0);
    if (leaves.length > 0 || room.policy.roles.has(userId)) {
      out.push({ roomId, role: role ?? room.policy.roles.get(userId), leaves });
    }
  }
  return out;
}

/** Rooms in which the device holds a leaf, with the leaf. */
export function deviceRooms(s: ShardRooms, senderId: bigint): { roomId: bigint; leaf: number }[] {
  const out: { roomId: bigint; leaf: number }[] = [];
  for (const roomId of roomIds(s)) {
    const m = s.room(roomId)?.member(senderId);
    if (m !== undefined) out.push({ roomId, leaf: m.leaf });
  }
  return out;
}

export function auditPage(storage: Storage, from: number, limit: number): AuditPage {
  const all = storage.readAudit();
  return {
    total: all.length,
    verification: storage.verifyAudit(),
    records: all.slice(from, from + limit),
  };
}

/** Deletes (or finishes deleting) a room of this shard; see the module comment. */
export async function deleteRoom(
  s: ShardRooms,
  msg: { roomId: bigint; dropHeaders: boolean; actor: string },
): Promise<Outcome> {
  const { roomId } = msg;
  const meta = s.storage.getRoom(roomId);
  if (meta === undefined || !s.mine(roomId)) {
    return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${roomId}`) };
  }
  const again = meta.deleted !== undefined;
  let members: bigint[] = [];
  if (!again) {
    const room = s.take(roomId);
    members = [...(room?.members() ?? [])];
    room?.retire();
    await s.flushed();
    await s.storage.retireRoom({
      ...meta,
      deleted: { at: s.now(), nextIndex: room?.nextIndex ?? s.storage.nextIndex(roomId) },
    });
  }
  let erased = 0;
  const context = { actor: msg.actor, reason: "room deleted" };
  for (;;) {
    const live = s.storage.livePayloads(roomId, 0n, ERASE_WINDOW);
    if (live.length === 0) break;
    const done = await Promise.all(live.map((i) => s.storage.secureDelete(roomId, i, context)));
    erased += done.filter(Boolean).length;
  }
  await s.eraseBlobs(roomId, msg.actor);
  const droppedHeaders = msg.dropHeaders ? await s.storage.dropRoomLog(roomId) : 0;
  const result: RoomDeletion = { erased, droppedHeaders, again, members };
  return { ok: true, data: result } as Outcome;
}
