/**
 * Bans (issue 8): per room and hub-wide, per user id (docs/contracts.md "Identity": bans
 * are per user, so every device of the user is covered, including devices it adds later).
 *
 * The audit log is the ban table: every ban and unban is an audit record (DESIGN §5:
 * "every deletion, kick, ban ... goes to an append-only, hash-chained audit log"), and the
 * list is rebuilt from those records when the hub opens. One source of truth, and a ban
 * cannot be lifted without a record of who lifted it.
 */
import { canary } from "@kalandra/proto";
import { decodeMlsMessage } from "ts-mls";
import type { AuditRecord } from "../storage/types.js";
import type { Ban, BanPolicy } from "../vocabulary/bans.js";

export type { Ban, BanScope } from "../vocabulary/bans.js";

export class BanList implements BanPolicy {
  private readonly hub = new Set<string>();
  private readonly rooms = new Map<string, Set<bigint>>();

  /** The bans in force after replaying the audit records in order. */
  static fromAudit(records: readonly AuditRecord[]): BanList {
    const list = new BanList();
    for (const r of records) list.applyRecord(r);
    return list;
  }

  isBanned(userId: string, roomId?: bigint): boolean {
    // canary: simulation-only planted bug (DESIGN §8), no ban is ever in force.
    if (canary("ban_ignored")) return false;
    if (this.hub.has(userId)) return true;
    return roomId !== undefined && this.rooms.get(userId)?.has(roomId) === true;
  }

  private readonly listeners: ((bans: Ban[]) => void)[] = [];

  /**
   * Calls `fn` with the whole list after every change (kalandrad copies it to its worker
   * shards, whose sequencers refuse commits adding a banned user; moderation/roomData.ts).
   */
  onChange(fn: (bans: Ban[]) => void): void {
    this.listeners.push(fn);
  }

  /** Replaces every ban with `bans` (a worker shard's copy of the hub's list). */
  replace(bans: readonly Ban[]): void {
    this.hub.clear();
    this.rooms.clear();
    for (const b of bans) this.addQuiet(b);
    this.changed();
  }

  add(ban: Ban): void {
    this.addQuiet(ban);
    this.changed();
  }

  private changed(): void {
    if (this.listeners.length === 0) return;
    const list = this.list();
    for (const fn of this.listeners) fn(list);
  }

  private addQuiet(ban: Ban): void {
    if (ban.scope === "hub") {
      this.hub.add(ban.userId);
      return;
    }
    if (ban.roomId === undefined) throw new TypeError("a room ban needs a room");
    let set = this.rooms.get(ban.userId);
    if (set === undefined) {
      set = new Set();
      this.rooms.set(ban.userId, set);
    }
    set.add(ban.roomId);
  }

  /** Lifts a ban; false when there was none of that scope. */
  remove(ban: Ban): boolean {
    const had = this.removeQuiet(ban);
    if (had) this.changed();
    return had;
  }

  private removeQuiet(ban: Ban): boolean {
    if (ban.scope === "hub") return this.hub.delete(ban.userId);
    const set = this.rooms.get(ban.userId);
    if (set === undefined || ban.roomId === undefined) return false;
    const had = set.delete(ban.roomId);
    if (set.size === 0) this.rooms.delete(ban.userId);
    return had;
  }

  /** Every ban in force (room bans sorted by room). */
  list(): Ban[] {
    const out: Ban[] = [...this.hub].sort().map((userId) => ({ userId, scope: "hub" as const }));
    for (const [userId, rooms] of [...this.rooms].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (const roomId of [...rooms].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
        out.push({ userId, scope: "room", roomId });
      }
    }
    return out;
  }

  /** Applies one audit record if it is a ban or an unban; others are ignored. */
  applyRecord(r: AuditRecord): void {
    if (r.kind !== "ban" && r.kind !== "unban") return;
    const ban = banOf(r);
    if (ban === undefined) return;
    if (r.kind === "ban") this.add(ban);
    else this.remove(ban);
  }
}

/** The ban an audit record describes (`detail: {user_id, scope}`, room in `roomId`). */
export function banOf(r: AuditRecord): Ban | undefined {
  const userId = r.detail.user_id;
  const scope = r.detail.scope;
  if (typeof userId !== "string" || (scope !== "room" && scope !== "hub")) return undefined;
  if (scope === "hub") return { userId, scope };
  return r.roomId === undefined ? undefined : { userId, scope, roomId: r.roomId };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The user an Add proposal (an MLSMessage PublicMessage) would add, from its KeyPackage's
 * BasicCredential; undefined for anything else. A public helper for tools that inspect
 * proposals: the sequencer itself reads the added user from its group view's proposal
 * check (`addedUserId`, sequencer/rules.ts) when it refuses a banned user's Add.
 */
export function addedUserOf(proposalMessage: Uint8Array): string | undefined {
  try {
    const m = decodeMlsMessage(proposalMessage, 0)?.[0];
    if (m?.wireformat !== "mls_public_message") return undefined;
    const c = m.publicMessage.content;
    if (c.contentType !== "proposal" || c.proposal.proposalType !== "add") return undefined;
    const cred = c.proposal.add.keyPackage.leafNode.credential;
    return cred.credentialType === "basic" ? utf8.decode(cred.identity) : undefined;
  } catch {
    return undefined;
  }
}
