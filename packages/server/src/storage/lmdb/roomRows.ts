/**
 * One room's rows as the operator sees them (admin API, moderation/roomAdmin.ts): how much
 * the room occupies, which payloads are still live, and the two writes of a room deletion
 * besides the erasures themselves (those go through erasure.ts like every other erasure,
 * DESIGN §5): the tombstone that retires the room, and dropping its erased log.
 *
 * Nothing here opens a payload: sizes are read from row lengths, liveness from the key
 * references (slotRef.ts).
 */
import { StorageError } from "../errors.js";
import { copyBytes, frameKey, prefixEnd, readFrameKey, readUserPrefix, roomKey } from "../keys.js";
import { readKeyRef, STATE_LIVE } from "../slotRef.js";
import type { RoomMeta, RoomUsage } from "../types.js";
import type { Tables } from "./layout.js";
import { encodeRoomMeta } from "./reads.js";
import { SLOT_BYTES } from "./vault.js";

/** Rows removed per transaction when a log is dropped (bounded write transactions). */
export const DROP_CHUNK = 4096;

const roomRange = (roomId: bigint) => {
  const prefix = roomKey(roomId);
  return { start: prefix, end: prefixEnd(prefix, 8) };
};

export function roomUsage(t: Tables, roomId: bigint): RoomUsage {
  const range = roomRange(roomId);
  let frames = 0;
  let livePayloads = 0;
  let bytes = 0;
  for (const { key, value } of t.headers.getRange(range)) {
    frames++;
    bytes += key.length + value.length;
  }
  for (const { key, value } of t.payload_keys.getRange(range)) {
    bytes += key.length + value.length;
    if (value[0] === STATE_LIVE) {
      livePayloads++;
      bytes += SLOT_BYTES;
    }
  }
  for (const { key, value } of t.payloads.getRange(range)) bytes += key.length + value.length;
  const room = roomKey(roomId);
  bytes += (t.mls_state.get(room)?.length ?? 0) + (t.rooms.get(room)?.length ?? 0);
  return { frames, livePayloads, bytes };
}

export function livePayloadIndexes(
  t: Tables,
  roomId: bigint,
  from: bigint,
  limit: number,
): bigint[] {
  if (limit <= 0 || from < 0n) return [];
  const out: bigint[] = [];
  const { end } = roomRange(roomId);
  for (const { key, value } of t.payload_keys.getRange({ start: frameKey(roomId, from), end })) {
    const k = copyBytes(key);
    const { logIndex } = readFrameKey(k);
    if (readKeyRef(value, `room ${roomId} index ${logIndex}`).state !== STATE_LIVE) continue;
    out.push(logIndex);
    if (out.length >= limit) break;
  }
  return out;
}

/** Inside a write transaction: the tombstone replaces the metadata; the MLS state goes. */
export function retireRoomInTxn(t: Tables, meta: RoomMeta): void {
  if (meta.deleted === undefined)
    throw new StorageError("INVALID", "a retired room needs a tombstone");
  const key = roomKey(meta.roomId);
  t.rooms.putSync(key, encodeRoomMeta(meta));
  t.mls_state.removeSync(key);
}

/**
 * Inside a write transaction: removes up to DROP_CHUNK headers of the room with their
 * (erased) key references; returns how many. A live payload refuses the whole chunk.
 */
export function dropLogChunk(t: Tables, roomId: bigint): number {
  const keys: Uint8Array[] = [];
  for (const key of t.headers.getKeys({ ...roomRange(roomId), limit: DROP_CHUNK })) {
    keys.push(copyBytes(key));
  }
  for (const key of keys) {
    const ref = t.payload_keys.get(key);
    if (ref !== undefined && readKeyRef(ref, "dropped log").state === STATE_LIVE) {
      const { logIndex } = readFrameKey(key);
      throw new StorageError("INVALID", `room ${roomId} index ${logIndex} is not erased`);
    }
  }
  for (const key of keys) {
    t.headers.removeSync(key);
    t.payload_keys.removeSync(key);
    t.payloads.removeSync(key);
  }
  return keys.length;
}

/**
 * The user-index rows of one room (keyed user ‖ room ‖ index, so every user's rows are
 * scanned: a room deletion is rare, the index is keys only).
 */
export function userIndexRowsOf(t: Tables, roomId: bigint): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const key of t.user_index.getKeys()) {
    const { end } = readUserPrefix(key);
    if (key.length !== end + 24) continue;
    if (readFrameKey(key.subarray(end)).roomId === roomId) out.push(copyBytes(key));
  }
  return out;
}
