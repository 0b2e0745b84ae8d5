/**
 * Devices of other hubs this hub learned of (part of the federation core,
 * federationCore.ts): each one's home domain, and its user when the home vouched for it (a
 * forwarded request, a key-package claim it answered); and which of them are live (their
 * hub forwards their requests) until that hub's link goes down.
 */
import type { Storage, StoredDevice } from "../storage/types.js";

export class RemoteDevices {
  /** sender_id → home domain, and user when the home vouched for it. */
  private readonly homes = new Map<bigint, { domain: string; userId?: string }>();
  /** Remote devices reported live to the hub, by their hub's domain. */
  private readonly live = new Map<string, Set<bigint>>();

  constructor(private readonly storage: Storage) {}

  /** A device its home vouched for, with its user. */
  vouched(senderId: bigint, domain: string, userId: string): void {
    this.homes.set(senderId, { domain, userId });
  }

  /** A device of `domain` seen in a room's fan-out (its user unknown unless learnt before). */
  seen(senderId: bigint, domain: string): void {
    if (!this.homes.has(senderId)) this.homes.set(senderId, { domain });
  }

  domainOf(senderId: bigint): string | undefined {
    return this.homes.get(senderId)?.domain;
  }

  /** The user of a device of this hub, or of another hub's device its home vouched for. */
  userOf(senderId: bigint): string | undefined {
    if (senderId === 0n) return undefined;
    return this.storage.getDevice(senderId)?.userId ?? this.homes.get(senderId)?.userId;
  }

  /** A device of another hub whose user its home vouched for (identity/leafBinding.ts). */
  owner(senderId: bigint): StoredDevice | undefined {
    const r = this.homes.get(senderId);
    if (r?.userId === undefined) return undefined;
    return { senderId, deviceKey: new Uint8Array(0), userId: r.userId, boundAt: 0n };
  }

  /** Marks a device of `domain` live; true when it was not yet. */
  markLive(domain: string, senderId: bigint): boolean {
    let live = this.live.get(domain);
    if (live === undefined) {
      live = new Set();
      this.live.set(domain, live);
    }
    if (live.has(senderId)) return false;
    live.add(senderId);
    return true;
  }

  /** The live devices of `domain`. */
  liveOf(domain: string): Iterable<bigint> {
    return this.live.get(domain) ?? [];
  }

  /** Forgets the live devices of `domain` (its link went down). */
  forgetLive(domain: string): void {
    this.live.delete(domain);
  }
}
