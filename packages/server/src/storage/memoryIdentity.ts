/**
 * The identity tables of `MemoryStorage` (types.ts `IdentityStorage`): users, devices,
 * enrollment codes and device-link nonces, with the LMDB implementation's semantics
 * (lmdb/identity.ts) minus durability.
 */
import type { BindResult, IdentityStorage, StoredDevice, StoredEnrollmentCode } from "./types.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const copyDevice = (d: StoredDevice): StoredDevice => ({ ...d, deviceKey: d.deviceKey.slice() });
const byKey =
  <T>(key: (x: T) => string | bigint) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

export class MemoryIdentity implements IdentityStorage {
  private readonly users = new Map<string, bigint>();
  private readonly devices = new Map<bigint, StoredDevice>();
  private readonly codes = new Map<string, StoredEnrollmentCode>();
  private readonly nonces = new Map<string, bigint>();

  /** `live` throws once the storage is closed. */
  constructor(private readonly live: () => void) {}

  async putUser(userId: string, createdAt: bigint): Promise<void> {
    this.live();
    if (!this.users.has(userId)) this.users.set(userId, createdAt);
  }

  listUsers(): { userId: string; createdAt: bigint }[] {
    this.live();
    return [...this.users]
      .map(([userId, createdAt]) => ({ userId, createdAt }))
      .sort(byKey((u) => u.userId));
  }

  getDevice(senderId: bigint): StoredDevice | undefined {
    this.live();
    const d = this.devices.get(senderId);
    return d === undefined ? undefined : copyDevice(d);
  }

  devicesOf(userId: string): StoredDevice[] {
    this.live();
    return [...this.devices.values()]
      .filter((d) => d.userId === userId)
      .sort(byKey((d) => d.senderId))
      .map(copyDevice);
  }

  async bindDevice(device: StoredDevice, maxActive: number): Promise<BindResult> {
    this.live();
    const known = this.devices.get(device.senderId);
    if (known !== undefined) return { kind: "existing", device: copyDevice(known) };
    const active = this.devicesOf(device.userId).filter((d) => d.revokedAt === undefined);
    if (active.length >= maxActive) return { kind: "too_many" };
    this.devices.set(device.senderId, copyDevice(device));
    return { kind: "bound", device: copyDevice(device) };
  }

  async revokeDevice(senderId: bigint, at: bigint): Promise<StoredDevice | undefined> {
    this.live();
    const d = this.devices.get(senderId);
    if (d === undefined) return undefined;
    d.revokedAt ??= at;
    return copyDevice(d);
  }

  async putEnrollmentCode(code: StoredEnrollmentCode): Promise<void> {
    this.live();
    this.codes.set(hex(code.codeHash), { ...code, codeHash: code.codeHash.slice() });
  }

  async takeEnrollmentCode(
    codeHash: Uint8Array,
    now: bigint,
  ): Promise<StoredEnrollmentCode | undefined> {
    this.live();
    const c = this.codes.get(hex(codeHash));
    if (c === undefined) return undefined;
    const before = { ...c, codeHash: c.codeHash.slice() };
    c.usedAt ??= now;
    return before;
  }

  async useNonce(nonce: Uint8Array, expiresAt: bigint, now: bigint): Promise<boolean> {
    this.live();
    for (const [k, exp] of this.nonces) if (exp < now) this.nonces.delete(k);
    const k = hex(nonce);
    if (this.nonces.has(k)) return false;
    this.nonces.set(k, expiresAt);
    return true;
  }
}
