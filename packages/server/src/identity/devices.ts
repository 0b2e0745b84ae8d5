/**
 * The device registry as the hub uses it (DESIGN §10): who owns a device key, a user's
 * devices, and revocation. A device is revoked by its own user (in band, DEVICE_REVOKE)
 * or by an operator (admin API, `kalandrad admin user revoke`); its sessions are closed at
 * once and it can never authenticate again (identity/authentication.ts). Every revocation
 * and every refused attempt to revoke another user's device is audited.
 */
import { type Clock, toHex } from "@kalandra/proto";
import { RefusalLimiter } from "../audit/refusals.js";
import type { AuditRecord, IdentityStorage, StoredDevice } from "../storage/types.js";
import { type Outcome, refuse } from "../vocabulary/outcome.js";

export interface DeviceRegistryDeps {
  storage: IdentityStorage & { appendAudit(record: AuditRecord): Promise<void> };
  clock: Clock;
  /** Closes every session of a device (hub/hubHost.ts `closeDevice`). */
  closeDevice?: (senderId: bigint, reason: string) => void;
}

export class DeviceRegistry {
  /** Refused authentications of registered devices: audited, at most 20 records a minute. */
  private readonly refusals: RefusalLimiter;

  constructor(private readonly d: DeviceRegistryDeps) {
    this.refusals = new RefusalLimiter(d.clock);
  }

  /**
   * A registered device was refused (`DEVICE_TAKEN`: its key tried to speak for another
   * user; `DEVICE_REVOKED`: a revoked key came back): a rights violation, audited under the
   * device and its bound user. The claimed user id is never written (it is unchecked input).
   */
  async refusedAuthentication(senderId: bigint, code: string): Promise<void> {
    const device = this.d.storage.getDevice(senderId);
    if (device === undefined) return;
    const detail = this.refusals.admit({ code, user_id: device.userId });
    if (detail === undefined) return;
    await this.audit("auth_refused", `device:${senderId.toString(16)}`, detail);
  }

  /** The registered device, revoked or not; undefined for a key the hub never bound. */
  device(senderId: bigint): StoredDevice | undefined {
    return this.d.storage.getDevice(senderId);
  }

  /** Every device of the user, revoked ones too. */
  devicesOf(userId: string): StoredDevice[] {
    return this.d.storage.devicesOf(userId);
  }

  /**
   * Revokes a device. `asUser`: the request comes from that user's session, who may revoke
   * only its own devices (another's is NOT_FOUND to it, and audited as refused). `actor`
   * is the audit actor (`user:<id>`, `admin:<name>`). `answered` runs once the revocation
   * is durable, before the device's sessions close (so a device revoking itself hears back).
   */
  async revoke(
    senderId: bigint,
    actor: string,
    o: { asUser?: string; answered?: () => void } = {},
  ): Promise<Outcome> {
    const asUser = o.asUser;
    const device = this.d.storage.getDevice(senderId);
    const detail = { sender_id: senderId.toString(16) };
    if (device === undefined || (asUser !== undefined && device.userId !== asUser)) {
      if (device !== undefined) await this.audit("device_revoke_refused", actor, detail);
      return { ok: false, refusal: refuse("NOT_FOUND", "no such device of yours") };
    }
    const at = this.d.clock.now() / 1000n;
    await this.d.storage.revokeDevice(senderId, at);
    await this.audit("device_revoked", actor, {
      ...detail,
      user_id: device.userId,
      device_key: toHex(device.deviceKey),
    });
    o.answered?.();
    this.d.closeDevice?.(senderId, "device revoked");
    return { ok: true };
  }

  private audit(kind: string, actor: string, detail: Record<string, unknown>): Promise<void> {
    return this.d.storage.appendAudit({ kind, at: this.d.clock.now(), actor, detail });
  }
}
