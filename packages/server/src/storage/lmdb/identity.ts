/**
 * The identity tables (DESIGN §10, types.ts `IdentityStorage`):
 *
 *   users         userPrefix                 → CBOR {created_at}
 *   devices       sender_id (8)              → CBOR {key, user, bound_at, revoked_at?}
 *   user_devices  userPrefix ‖ sender_id (8) → 0x00          (the devices of a user)
 *   enroll_codes  SHA-256(code) (32)         → CBOR {user, expires_at, used_at?}
 *   link_nonces   nonce                      → expires_at (u64 BE)
 *
 * Like keyPackages.ts, each function that runs inside a write transaction reads and
 * encodes everything before its first write (lmdb-js keeps the writes of a callback that
 * throws).
 */
import { concatBytes, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import { StorageError } from "../errors.js";
import { copyBytes, prefixEnd, readU64Key, readUserPrefix, u64Key, userPrefix } from "../keys.js";
import type { BindResult, StoredDevice, StoredEnrollmentCode } from "../types.js";
import type { Tables } from "./layout.js";

const ONE = new Uint8Array([0]);

function record(bytes: Uint8Array, what: string): Record<string, unknown> {
  const v = stateCborDecode(bytes) as unknown;
  if (v === null || typeof v !== "object")
    throw new StorageError("CORRUPT", `${what} does not decode`);
  return v as Record<string, unknown>;
}

function decodeDevice(bytes: Uint8Array, senderId: bigint): StoredDevice {
  const v = record(bytes, `device ${senderId}`);
  if (
    !(v.key instanceof Uint8Array) ||
    typeof v.user !== "string" ||
    typeof v.bound_at !== "bigint" ||
    (v.bound_by !== undefined && typeof v.bound_by !== "string") ||
    (v.revoked_at !== undefined && typeof v.revoked_at !== "bigint")
  ) {
    throw new StorageError("CORRUPT", `device ${senderId} does not decode`);
  }
  const d: StoredDevice = {
    senderId,
    deviceKey: copyBytes(v.key),
    userId: v.user,
    boundAt: v.bound_at,
  };
  if (typeof v.bound_by === "string") d.boundBy = v.bound_by;
  if (typeof v.revoked_at === "bigint") d.revokedAt = v.revoked_at;
  return d;
}

function encodeDevice(d: StoredDevice): Uint8Array {
  return stateCborEncode({
    key: d.deviceKey,
    user: d.userId,
    bound_at: d.boundAt,
    ...(d.boundBy === undefined ? {} : { bound_by: d.boundBy }),
    ...(d.revokedAt === undefined ? {} : { revoked_at: d.revokedAt }),
  });
}

export function putUser(t: Tables, userId: string, createdAt: bigint): void {
  const key = userPrefix(userId);
  if (t.users.get(key) !== undefined) return;
  t.users.putSync(key, stateCborEncode({ created_at: createdAt }));
}

export function listUsers(t: Tables): { userId: string; createdAt: bigint }[] {
  const out: { userId: string; createdAt: bigint }[] = [];
  for (const { key, value } of t.users.getRange({})) {
    const v = record(value, "user");
    if (typeof v.created_at !== "bigint") throw new StorageError("CORRUPT", "user does not decode");
    out.push({ userId: readUserPrefix(key).userId, createdAt: v.created_at });
  }
  return out.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

export function getDevice(t: Tables, senderId: bigint): StoredDevice | undefined {
  const v = t.devices.get(u64Key(senderId, "senderId"));
  return v === undefined ? undefined : decodeDevice(v, senderId);
}

export function devicesOf(t: Tables, userId: string): StoredDevice[] {
  const prefix = userPrefix(userId);
  const out: StoredDevice[] = [];
  for (const key of t.user_devices.getKeys({ start: prefix, end: prefixEnd(prefix, 8) })) {
    if (key.length !== prefix.length + 8) continue;
    const d = getDevice(t, readU64Key(key, prefix.length));
    if (d !== undefined) out.push(d);
  }
  return out;
}

export function bindDevice(t: Tables, device: StoredDevice, maxActive: number): BindResult {
  const known = getDevice(t, device.senderId);
  if (known !== undefined) return { kind: "existing", device: known };
  const active = devicesOf(t, device.userId).filter((d) => d.revokedAt === undefined).length;
  if (active >= maxActive) return { kind: "too_many" };
  const value = encodeDevice(device);
  const index = concatBytes(userPrefix(device.userId), u64Key(device.senderId));
  t.devices.putSync(u64Key(device.senderId), value);
  t.user_devices.putSync(index, ONE);
  return { kind: "bound", device };
}

export function revokeDevice(t: Tables, senderId: bigint, at: bigint): StoredDevice | undefined {
  const d = getDevice(t, senderId);
  if (d === undefined || d.revokedAt !== undefined) return d;
  const revoked = { ...d, revokedAt: at };
  const value = encodeDevice(revoked);
  t.devices.putSync(u64Key(senderId), value);
  return revoked;
}

function encodeCode(c: StoredEnrollmentCode): Uint8Array {
  return stateCborEncode({
    user: c.userId,
    expires_at: c.expiresAt,
    ...(c.usedAt === undefined ? {} : { used_at: c.usedAt }),
  });
}

export function putEnrollmentCode(t: Tables, c: StoredEnrollmentCode): void {
  t.enroll_codes.putSync(copyBytes(c.codeHash), encodeCode(c));
}

export function takeEnrollmentCode(
  t: Tables,
  codeHash: Uint8Array,
  now: bigint,
): StoredEnrollmentCode | undefined {
  const bytes = t.enroll_codes.get(codeHash);
  if (bytes === undefined) return undefined;
  const v = record(bytes, "enrollment code");
  if (
    typeof v.user !== "string" ||
    typeof v.expires_at !== "bigint" ||
    (v.used_at !== undefined && typeof v.used_at !== "bigint")
  ) {
    throw new StorageError("CORRUPT", "enrollment code does not decode");
  }
  const before: StoredEnrollmentCode = {
    codeHash: copyBytes(codeHash),
    userId: v.user,
    expiresAt: v.expires_at,
  };
  if (typeof v.used_at === "bigint") before.usedAt = v.used_at;
  if (before.usedAt === undefined) {
    t.enroll_codes.putSync(before.codeHash, encodeCode({ ...before, usedAt: now }));
  }
  return before;
}

export function useNonce(t: Tables, nonce: Uint8Array, expiresAt: bigint, now: bigint): boolean {
  const expired: Uint8Array[] = [];
  for (const { key, value } of t.link_nonces.getRange({})) {
    if (readU64Key(value) < now) expired.push(copyBytes(key));
  }
  const used = t.link_nonces.get(nonce) !== undefined;
  const stamp = u64Key(expiresAt, "expiresAt");
  for (const k of expired) t.link_nonces.removeSync(k);
  if (used) return false;
  t.link_nonces.putSync(copyBytes(nonce), stamp);
  return true;
}
