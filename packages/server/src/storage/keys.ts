/**
 * Binary LMDB keys (docs/storage.md). Integers are big-endian so LMDB's byte order is the
 * numeric order: a range over `frameKey(room, from)..` walks one room's log in log order.
 */
import { StorageError } from "./errors.js";

const U64_MAX = (1n << 64n) - 1n;
const U128_MAX = (1n << 128n) - 1n;

// One scratch view instead of a DataView per call: key encoding runs several times per
// appended frame, and allocating views was a visible share of append time.
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

function writeU64(out: Uint8Array, at: number, v: bigint): void {
  scratch.setBigUint64(0, v, false);
  out.set(scratchBytes, at);
}

function readU64(b: Uint8Array, at: number): bigint {
  if (b.length < at + 8) throw new StorageError("CORRUPT", "key too short");
  scratchBytes.set(b.subarray(at, at + 8));
  return scratch.getBigUint64(0, false);
}

function checkU64(v: bigint, label: string): void {
  if (v < 0n || v > U64_MAX) throw new StorageError("INVALID", `"${label}" expected u64, got ${v}`);
}

/** room_id as 16 bytes big-endian (the `rooms` and `mls_state` key). */
export function roomKey(roomId: bigint): Uint8Array {
  if (roomId < 0n || roomId > U128_MAX) {
    throw new StorageError("INVALID", `"roomId" expected u128, got ${roomId}`);
  }
  const out = new Uint8Array(16);
  writeU64(out, 0, roomId >> 64n);
  writeU64(out, 8, roomId & U64_MAX);
  return out;
}

export function readRoomKey(b: Uint8Array, at = 0): bigint {
  return (readU64(b, at) << 64n) | readU64(b, at + 8);
}

export function u64Key(v: bigint, label = "value"): Uint8Array {
  checkU64(v, label);
  const out = new Uint8Array(8);
  writeU64(out, 0, v);
  return out;
}

export function readU64Key(b: Uint8Array, at = 0): bigint {
  return readU64(b, at);
}

/** room_id (16) ‖ log_index (8): the key of `headers`, `payload_keys` and `payloads`. */
export function frameKey(roomId: bigint, logIndex: bigint): Uint8Array {
  checkU64(logIndex, "logIndex");
  const out = new Uint8Array(24);
  out.set(roomKey(roomId), 0);
  writeU64(out, 16, logIndex);
  return out;
}

export function readFrameKey(b: Uint8Array): { roomId: bigint; logIndex: bigint } {
  if (b.length !== 24) throw new StorageError("CORRUPT", `frame key of ${b.length} bytes`);
  return { roomId: readRoomKey(b, 0), logIndex: readU64(b, 16) };
}

/**
 * An exclusive upper bound for every key that starts with `prefix`: the prefix followed by
 * more 0xff bytes than any key under it has, so it sorts after all of them.
 */
export function prefixEnd(prefix: Uint8Array, longestSuffix: number): Uint8Array {
  const out = new Uint8Array(prefix.length + longestSuffix + 1).fill(0xff);
  out.set(prefix, 0);
  return out;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** u16 length ‖ UTF-8 of a user id: a prefix that cannot collide with another user's. */
export function userPrefix(userId: string): Uint8Array {
  const bytes = utf8.encode(userId);
  if (bytes.length > 0xffff) throw new StorageError("INVALID", `"userId" longer than 65535 bytes`);
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

/** Reads a `userPrefix` at the start of `b`; returns the user id and where it ends. */
export function readUserPrefix(b: Uint8Array): { userId: string; end: number } {
  if (b.length < 2) throw new StorageError("CORRUPT", "user key too short");
  const len = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  if (b.length < 2 + len) throw new StorageError("CORRUPT", "user key too short");
  return { userId: utf8Decoder.decode(b.subarray(2, 2 + len)), end: 2 + len };
}

/** user (u16 len ‖ utf8) ‖ room_id (16) ‖ log_index (8): one `user_index` row. */
export function userIndexKey(userId: string, roomId: bigint, logIndex: bigint): Uint8Array {
  const p = userPrefix(userId);
  const out = new Uint8Array(p.length + 24);
  out.set(p, 0);
  out.set(frameKey(roomId, logIndex), p.length);
  return out;
}

/** sender_id (8) ‖ request_id (4): one idempotency record in `requests`. */
export function requestKey(senderId: bigint, requestId: number): Uint8Array {
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) {
    throw new StorageError("INVALID", `"requestId" expected u32, got ${requestId}`);
  }
  const out = new Uint8Array(12);
  out.set(u64Key(senderId, "senderId"), 0);
  out[8] = requestId >>> 24;
  out[9] = (requestId >>> 16) & 0xff;
  out[10] = (requestId >>> 8) & 0xff;
  out[11] = requestId & 0xff;
  return out;
}

/**
 * A plain Uint8Array copy. Needed for what LMDB and cbor-x return: those are Node Buffers
 * (often over reused memory), and `Buffer#slice` is a view, not a copy.
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
