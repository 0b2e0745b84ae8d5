/**
 * A participating hub's bans over what it relays (issue 18, docs/federation.md "Bans and
 * what a hub relays"). A ban by this hub's operator (hub-wide, or from the room) of a user
 * homed elsewhere does not change the room — the authority decides its members — but this
 * hub delivers none of that user's application frames to its own devices: APP_MESSAGE
 * (live, and in sync pages as an erased entry, so every device's log stays complete) and
 * PRESENCE/TYPING. Handshake frames (commits, proposals, Welcomes) are delivered as ever:
 * withholding them would break the members' group state, and a member removes the user
 * from the group through MLS if the room agrees.
 *
 * Who sent a frame: this hub's own devices from its registry, the others as the room's
 * authority attributed them (the `user_id` of its sequenced envelopes, and of relayed
 * ephemerals), kept in the audit chain (kind `federation_attribution`, one record per
 * device) so a restart forgets none. A sender whose frames reached this hub only through
 * catch-up pages since it joined the room is attributed by its next live frame; until then
 * it is not withheld. A sync page the authority answers for one of this hub's devices (a replica
 * that cannot serve it yet forwards the request) passes the same filter on its way.
 */
import {
  type Clock,
  canary,
  type DeviceSigner,
  decodePayload,
  type Frame,
  FrameHeader,
  isEphemeral,
  Opcode,
  responseFrame,
} from "@kalandra/proto";
import type { Storage } from "../storage/types.js";
import type { BanPolicy } from "../vocabulary/bans.js";

/** Sender devices of other hubs remembered at most (oldest forgotten first). */
export const MAX_ATTRIBUTED = 65_536;

export const ATTRIBUTION_AUDIT_KIND = "federation_attribution";

export class RelayFilter {
  /** Devices of other hubs → the user the authority named for them. */
  private readonly users = new Map<bigint, string>();
  /** Frames withheld from this hub's devices (metrics, tests). */
  withheldCount = 0;

  constructor(
    private readonly bans: BanPolicy | undefined,
    private readonly storage: Pick<Storage, "getDevice" | "appendAudit" | "readAudit">,
    private readonly clock: Clock,
  ) {
    for (const r of storage.readAudit()) {
      if (r.kind !== ATTRIBUTION_AUDIT_KIND) continue;
      const { sender_id, user_id } = r.detail;
      if (typeof sender_id === "string" && typeof user_id === "string") {
        this.remember(BigInt(`0x${sender_id}`), user_id);
      }
    }
  }

  /** The room's authority `by` named `userId` as the user of device `senderId` (persisted). */
  async attribute(senderId: bigint, userId: string | undefined, by: string): Promise<void> {
    if (userId === undefined || senderId === 0n || this.users.get(senderId) === userId) return;
    if (this.storage.getDevice(senderId) !== undefined) return; // this hub's own device
    this.remember(senderId, userId);
    await this.storage.appendAudit({
      kind: ATTRIBUTION_AUDIT_KIND,
      at: this.clock.now(),
      actor: `hub:${by}`,
      detail: { sender_id: senderId.toString(16), user_id: userId },
    });
  }

  private remember(senderId: bigint, userId: string): void {
    this.users.delete(senderId);
    this.users.set(senderId, userId);
    if (this.users.size > MAX_ATTRIBUTED) {
      const oldest = this.users.keys().next().value as bigint;
      this.users.delete(oldest);
    }
  }

  userOf(senderId: bigint): string | undefined {
    return this.storage.getDevice(senderId)?.userId ?? this.users.get(senderId);
  }

  /** True when this hub must not deliver the frame to its devices (counted). */
  withholds(h: { opcode: number; senderId: bigint; roomId: bigint }): boolean {
    // canary: simulation-only planted bug (issue 18), a hub that relays what it banned.
    if (this.bans === undefined || h.senderId === 0n || canary("relay_ignores_bans")) return false;
    if (h.opcode !== Opcode.APP_MESSAGE && !isEphemeral(h.opcode)) return false;
    const user = this.userOf(h.senderId);
    if (user === undefined || !this.bans.isBanned(user, h.roomId)) return false;
    this.withheldCount++;
    return true;
  }

  /**
   * A SYNC_PAGE the authority answered for one of this hub's devices, as this hub relays
   * it: re-signed with the withheld entries' payloads left out; undefined when nothing in
   * it is withheld (or it is no page).
   */
  page(signer: DeviceSigner, inner: Frame): Uint8Array | undefined {
    if (inner.header.opcode !== Opcode.SYNC_PAGE) return undefined;
    const p = decodePayload(Opcode.SYNC_PAGE, inner.payload);
    let withheld = false;
    const entries = p.entries.map((e) => {
      if (e.payload === null || !this.withholds(FrameHeader.view(e.header))) return e;
      withheld = true;
      return { ...e, payload: null };
    });
    return withheld
      ? responseFrame(signer, inner.header, Opcode.SYNC_PAGE, { ...p, entries })
      : undefined;
  }
}
