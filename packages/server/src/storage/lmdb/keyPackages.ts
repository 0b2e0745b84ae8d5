/**
 * The KeyPackage directory (issue 3): devices upload packages, a claim hands out one per
 * device of a user. RFC 9420 §16.8: a KeyPackage is used once, except a "last resort"
 * package that may be reused when nothing else is left. Expired packages (notAfter < now)
 * are never handed out and are pruned when a claim meets them.
 *
 * Tables (all inside the caller's write transaction for put/claim):
 *   key_packages  sender_id (8) ‖ seq (8)  → CBOR {ref, user, data, last_resort, not_after}
 *   kp_refs       ref                      → sender_id (8) ‖ seq (8)   (one row per package)
 *   kp_devices    userPrefix ‖ sender_id (8) → 0x00                  (devices of a user)
 */
import { concatBytes, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import { StorageError } from "../errors.js";
import { copyBytes, prefixEnd, readU64Key, u64Key, userPrefix } from "../keys.js";
import type { StoredKeyPackage } from "../types.js";
import { deviceRows, META, type Tables } from "./layout.js";

const ONE = new Uint8Array([0]);

function decodePackage(bytes: Uint8Array, senderId: bigint): StoredKeyPackage {
  const v = stateCborDecode(bytes) as Record<string, unknown> | null;
  if (
    v === null ||
    typeof v !== "object" ||
    !(v.ref instanceof Uint8Array) ||
    !(v.data instanceof Uint8Array) ||
    typeof v.user !== "string" ||
    typeof v.last_resort !== "boolean" ||
    typeof v.not_after !== "bigint"
  ) {
    throw new StorageError("CORRUPT", `key package of device ${senderId} does not decode`);
  }
  return {
    ref: copyBytes(v.ref),
    senderId,
    userId: v.user,
    data: copyBytes(v.data),
    lastResort: v.last_resort,
    notAfter: v.not_after,
  };
}

interface Row {
  key: Uint8Array;
  pkg: StoredKeyPackage;
}

function packagesOf(t: Tables, senderId: bigint): Row[] {
  return deviceRows(t.key_packages, senderId, (v) => decodePackage(v, senderId)).map((r) => ({
    key: r.key,
    pkg: r.value,
  }));
}

/**
 * Stores packages; a ref already present is left as it is (uploads are idempotent). A new
 * last-resort package replaces the device's previous one: a device keeps exactly one.
 * Like every function run inside an lmdb-js transaction callback, it reads and encodes
 * everything before its first write: lmdb-js commits the writes a throwing callback already
 * made, so a failure must happen before any of them.
 */
export function putPackages(t: Tables, packages: readonly StoredKeyPackage[]): void {
  const seqBytes = t.meta.get(META.kpSeq);
  let seq = seqBytes === undefined ? 0n : readU64Key(seqBytes);
  const seen = new Set<string>();
  const rows: { key: Uint8Array; value: Uint8Array; ref: Uint8Array; device: Uint8Array }[] = [];
  const replaced: Row[] = [];
  for (const p of packages) {
    const id = Buffer.from(p.ref).toString("hex");
    if (seen.has(id) || t.kp_refs.get(p.ref) !== undefined) continue;
    seen.add(id);
    if (p.lastResort) {
      replaced.push(...packagesOf(t, p.senderId).filter((r) => r.pkg.lastResort));
    }
    rows.push({
      key: concatBytes(u64Key(p.senderId, "senderId"), u64Key(seq++)),
      value: stateCborEncode({
        ref: p.ref,
        user: p.userId,
        data: p.data,
        last_resort: p.lastResort,
        not_after: p.notAfter,
      }),
      ref: copyBytes(p.ref),
      device: concatBytes(userPrefix(p.userId), u64Key(p.senderId)),
    });
  }
  for (const r of replaced) {
    t.key_packages.removeSync(r.key);
    t.kp_refs.removeSync(r.pkg.ref);
  }
  for (const r of rows) {
    t.key_packages.putSync(r.key, r.value);
    t.kp_refs.putSync(r.ref, r.key);
    t.kp_devices.putSync(r.device, ONE);
  }
  t.meta.putSync(META.kpSeq, u64Key(seq));
}

/**
 * One package per device of `userId`: the oldest unexpired one-time package (removed), else
 * the device's last-resort package (kept). Devices with nothing usable are left out.
 * Reads and decodes everything first, then writes (see `putPackages`).
 */
export function claimPackages(t: Tables, userId: string, now: bigint): StoredKeyPackage[] {
  const prefix = userPrefix(userId);
  const devices: bigint[] = [];
  for (const key of t.kp_devices.getKeys({ start: prefix, end: prefixEnd(prefix, 8) })) {
    if (key.length === prefix.length + 8) devices.push(readU64Key(key, prefix.length));
  }
  const out: StoredKeyPackage[] = [];
  const remove: Row[] = [];
  const emptyDevices: Uint8Array[] = [];
  for (const senderId of devices) {
    const rows = packagesOf(t, senderId).filter((r) => r.pkg.userId === userId);
    const live = rows.filter((r) => r.pkg.notAfter >= now);
    remove.push(...rows.filter((r) => r.pkg.notAfter < now));
    const oneTime = live.find((r) => !r.pkg.lastResort);
    const pick = oneTime ?? live.find((r) => r.pkg.lastResort);
    if (oneTime !== undefined) remove.push(oneTime);
    if (pick !== undefined) out.push(pick.pkg);
    if (live.length - (oneTime === undefined ? 0 : 1) === 0) {
      emptyDevices.push(concatBytes(prefix, u64Key(senderId)));
    }
  }
  for (const r of remove) {
    t.key_packages.removeSync(r.key);
    t.kp_refs.removeSync(r.pkg.ref);
  }
  for (const d of emptyDevices) t.kp_devices.removeSync(d);
  return out;
}

/** Unexpired one-time packages a device still has (what KP_STATUS reports). */
export function countPackages(t: Tables, senderId: bigint, now: bigint): number {
  return packagesOf(t, senderId).filter((r) => !r.pkg.lastResort && r.pkg.notAfter >= now).length;
}
