/**
 * The Welcome inbox (issue 12): a Welcome waits for its recipient device until the device
 * acknowledges it or it expires. Each device keeps at most `maxPerDevice`; beyond that its
 * oldest are dropped (a flood of invitations cannot block new ones).
 *
 * Tables (inside the caller's write transaction):
 *   welcomes        sender_id (8) ‖ seq (8)                  → CBOR {room, index, epoch, frame, expires}
 *   welcome_expiry  expires_at (8) ‖ sender_id (8) ‖ seq (8)  → 0x00   (the sweep's order)
 *
 * The frame is stored in clear: it is already the MLS Welcome encrypted to the device's
 * key package (RFC 9420 §12.4.3.1), and the same bytes are in the adding COMMIT's entry of
 * the room's log; removal deletes the rows (no vault key to destroy, docs/storage.md).
 */
import { concatBytes, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import { StorageError } from "../errors.js";
import { copyBytes, readRoomKey, readU64Key, roomKey, u64Key } from "../keys.js";
import type { StoredWelcome } from "../types.js";
import { deviceRows, META, type Tables } from "./layout.js";

const ONE = new Uint8Array([0]);

interface Row {
  key: Uint8Array;
  welcome: StoredWelcome;
}

function decodeWelcome(bytes: Uint8Array, senderId: bigint): StoredWelcome {
  const v = stateCborDecode(bytes) as Record<string, unknown> | null;
  if (
    v === null ||
    typeof v !== "object" ||
    !(v.room instanceof Uint8Array) ||
    v.room.length !== 16 ||
    typeof v.index !== "bigint" ||
    typeof v.epoch !== "bigint" ||
    !(v.frame instanceof Uint8Array) ||
    typeof v.expires !== "bigint"
  ) {
    throw new StorageError("CORRUPT", `welcome of device ${senderId} does not decode`);
  }
  return {
    senderId,
    roomId: readRoomKey(v.room),
    logIndex: v.index,
    epoch: v.epoch,
    frame: copyBytes(v.frame),
    expiresAt: v.expires,
  };
}

/** Every Welcome a device has, oldest first (expired ones included). */
function welcomeRows(t: Tables, senderId: bigint): Row[] {
  return deviceRows(t.welcomes, senderId, (v) => decodeWelcome(v, senderId)).map((r) => ({
    key: r.key,
    welcome: r.value,
  }));
}

const expiryKey = (r: Row): Uint8Array =>
  concatBytes(u64Key(r.welcome.expiresAt, "expiresAt"), r.key);

function removeRows(t: Tables, rows: readonly Row[]): void {
  for (const r of rows) {
    t.welcomes.removeSync(r.key);
    t.welcome_expiry.removeSync(expiryKey(r));
  }
}

/** Stores one Welcome, drops the device's oldest beyond `maxPerDevice`; how many dropped. */
export function putWelcome(t: Tables, w: StoredWelcome, maxPerDevice: number): number {
  // Read and encode everything before the first write (keyPackages.ts `putPackages`).
  const rows = welcomeRows(t, w.senderId);
  if (rows.some((r) => r.welcome.roomId === w.roomId && r.welcome.logIndex === w.logIndex)) {
    return 0;
  }
  const seqBytes = t.meta.get(META.welcomeSeq);
  const seq = seqBytes === undefined ? 0n : readU64Key(seqBytes);
  const row: Row = { key: concatBytes(u64Key(w.senderId, "senderId"), u64Key(seq)), welcome: w };
  const value = stateCborEncode({
    room: roomKey(w.roomId),
    index: w.logIndex,
    epoch: w.epoch,
    frame: w.frame,
    expires: w.expiresAt,
  });
  const drop = rows.slice(0, Math.max(0, rows.length + 1 - maxPerDevice));
  const expiry = expiryKey(row);
  t.welcomes.putSync(row.key, value);
  t.welcome_expiry.putSync(expiry, ONE);
  t.meta.putSync(META.welcomeSeq, u64Key(seq + 1n));
  removeRows(t, drop);
  return drop.length;
}

/** A device's Welcomes not expired at `now`, oldest first. */
export function welcomesOf(t: Tables, senderId: bigint, now: bigint): StoredWelcome[] {
  return welcomeRows(t, senderId)
    .filter((r) => r.welcome.expiresAt > now)
    .map((r) => r.welcome);
}

export function removeWelcome(
  t: Tables,
  senderId: bigint,
  roomId: bigint,
  logIndex: bigint,
): boolean {
  const rows = welcomeRows(t, senderId).filter(
    (r) => r.welcome.roomId === roomId && r.welcome.logIndex === logIndex,
  );
  removeRows(t, rows);
  return rows.length > 0;
}

/** Erases at most `limit` Welcomes whose expiry is at or before `now`, in expiry order. */
export function expireWelcomes(t: Tables, now: bigint, limit: number): number {
  const keys: Uint8Array[] = [];
  for (const key of t.welcome_expiry.getKeys({ end: u64Key(now + 1n, "now"), limit })) {
    keys.push(copyBytes(key));
  }
  for (const k of keys) {
    t.welcome_expiry.removeSync(k);
    t.welcomes.removeSync(k.subarray(8));
  }
  return keys.length;
}
