/**
 * Which hub is each federated room's authority, in which term, as this hub knows it
 * (DESIGN §11). Rooms created here and never federated have no entry: this hub is their
 * authority. A participating hub learns a room's authority from the first frame the
 * authority sends it (a Welcome or a sequenced frame) and a higher term from any later one.
 *
 * Kept in the audit chain (kind `federation_authority`, one record per change), so it
 * survives a restart with no table of its own and every authority change is audited
 * (DESIGN §5). The authority-transfer part (federation/authority/) may replace this view.
 */
import type { Clock } from "@kalandra/proto";
import type { AuditRecord } from "../storage/types.js";
import type { AuthorityView, RoomAuthority } from "./contract.js";

export const AUTHORITY_AUDIT_KIND = "federation_authority";

export interface AuthorityBookDeps {
  storage: { appendAudit(r: AuditRecord): Promise<void>; readAudit(): AuditRecord[] };
  clock: Clock;
}

export class AuthorityBook implements AuthorityView {
  private readonly rooms = new Map<bigint, RoomAuthority>();

  constructor(private readonly d: AuthorityBookDeps) {
    for (const r of d.storage.readAudit()) {
      if (r.kind !== AUTHORITY_AUDIT_KIND || r.roomId === undefined) continue;
      const { domain, term } = r.detail;
      if (typeof domain === "string" && typeof term === "string") {
        this.rooms.set(r.roomId, { domain, term: BigInt(term) });
      }
    }
  }

  authorityOf(roomId: bigint): RoomAuthority | undefined {
    return this.rooms.get(roomId);
  }

  /** Every room this hub learned an authority for (replicas, and rooms that moved). */
  knownRooms(): bigint[] {
    return [...this.rooms.keys()];
  }

  /** Rooms whose authority is another hub (their log here is a replica). */
  remoteRooms(self: string): bigint[] {
    return [...this.rooms].filter(([, a]) => a.domain !== self).map(([id]) => id);
  }

  /**
   * Records `domain` as the room's authority in `term` unless this hub already knows a
   * higher term, or the same term under another authority (never two in one term).
   * True when the record changed (and was audited).
   */
  async learn(roomId: bigint, domain: string, term: bigint): Promise<boolean> {
    const known = this.rooms.get(roomId);
    if (known !== undefined) {
      if (term < known.term) return false;
      if (term === known.term) return false;
    }
    this.rooms.set(roomId, { domain, term });
    await this.d.storage.appendAudit({
      kind: AUTHORITY_AUDIT_KIND,
      at: this.d.clock.now(),
      roomId,
      actor: `hub:${domain}`,
      detail: { domain, term: term.toString() },
    });
    return true;
  }
}
