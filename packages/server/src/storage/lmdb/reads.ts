/**
 * The synchronous reads of `LmdbStorage`: a room's frames (payloads opened with their
 * vault keys), room metadata and the user index. Every result is a copy: LMDB's buffers
 * are only valid until the next read.
 */
import { stateCborDecode, stateCborEncode } from "@kalandra/proto";
import { StorageError } from "../errors.js";
import {
  copyBytes,
  frameKey,
  prefixEnd,
  readFrameKey,
  readRoomKey,
  roomKey,
  userPrefix,
} from "../keys.js";
import type { RoomMeta, StoredFrame } from "../types.js";
import { openFrame } from "./frames.js";
import type { Tables } from "./layout.js";
import type { KeyVault } from "./vault.js";

export function readFrames(
  t: Tables,
  vault: KeyVault,
  roomId: bigint,
  from: bigint,
  limit: number,
): StoredFrame[] {
  if (limit <= 0 || from < 0n) return [];
  const start = frameKey(roomId, from);
  const out: StoredFrame[] = [];
  for (const { key, value } of t.headers.getRange({
    start,
    end: prefixEnd(roomKey(roomId), 8),
    limit,
  })) {
    const k = copyBytes(key);
    const { logIndex } = readFrameKey(k);
    out.push({
      roomId,
      logIndex,
      header: copyBytes(value),
      payload: openFrame(t, vault, k, `room ${roomId} index ${logIndex}`),
    });
  }
  return out;
}

/** The `rooms` row of a room: its creation time, settings and creator as state CBOR. */
export function encodeRoomMeta(meta: RoomMeta): Uint8Array {
  const row: Record<string, unknown> = { created_at: meta.createdAt, settings: meta.settings };
  if (meta.creator !== undefined) row.creator = meta.creator;
  if (meta.deleted !== undefined) {
    row.deleted = { at: meta.deleted.at, next_index: meta.deleted.nextIndex };
  }
  return stateCborEncode(row);
}

export function readRoomMeta(t: Tables, roomId: bigint): RoomMeta | undefined {
  const bytes = t.rooms.get(roomKey(roomId));
  if (bytes === undefined) return undefined;
  let v: unknown;
  try {
    v = stateCborDecode(bytes);
  } catch (err) {
    throw new StorageError("CORRUPT", `room ${roomId} metadata does not decode`, { cause: err });
  }
  const m = v as {
    created_at?: unknown;
    settings?: unknown;
    creator?: unknown;
    deleted?: { at?: unknown; next_index?: unknown } | null;
  } | null;
  if (
    m === null ||
    typeof m.created_at !== "bigint" ||
    typeof m.settings !== "object" ||
    m.settings === null ||
    (m.creator !== undefined && typeof m.creator !== "string") ||
    (m.deleted !== undefined &&
      (typeof m.deleted !== "object" ||
        m.deleted === null ||
        typeof m.deleted.at !== "bigint" ||
        typeof m.deleted.next_index !== "bigint"))
  ) {
    throw new StorageError("CORRUPT", `room ${roomId} metadata is malformed`);
  }
  const meta: RoomMeta = {
    roomId,
    createdAt: m.created_at,
    settings: m.settings as Record<string, unknown>,
  };
  if (m.creator !== undefined) meta.creator = m.creator;
  if (m.deleted != null) {
    meta.deleted = { at: m.deleted.at as bigint, nextIndex: m.deleted.next_index as bigint };
  }
  return meta;
}

export function listRoomIds(t: Tables): bigint[] {
  return [...t.rooms.getKeys()].map((k) => readRoomKey(copyBytes(k)));
}

export function readUserIndex(t: Tables, userId: string): { roomId: bigint; logIndex: bigint }[] {
  const prefix = userPrefix(userId);
  const out: { roomId: bigint; logIndex: bigint }[] = [];
  for (const key of t.user_index.getKeys({ start: prefix, end: prefixEnd(prefix, 24) })) {
    if (key.length === prefix.length + 24) out.push(readFrameKey(key.subarray(prefix.length)));
  }
  return out;
}
