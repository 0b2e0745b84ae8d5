/**
 * Server authority without reading content (DESIGN §6, issue 8): what an operator can do
 * to rooms — kick, ban, redact, retention — and the user index, each action written to
 * the hash-chained audit log (DESIGN §5) before it is reported done.
 *
 * Everything here works on what the hub has anyway: MLS public state (members' user ids
 * and leaves), frame headers (sender, time, position) and sealed payloads it only ever
 * erases. No method decrypts a payload or needs a group secret (docs/moderation.md).
 *
 * Time and timers are injected (DESIGN §2): the retention sweeper runs on `Timers`.
 *
 * @example
 * const { bans, retention } = loadModerationState(storage, { maxAgeMs: 0, maxCount: 0 });
 * const hub = await HubCore.open({ ...deps, bans });
 * const mod = new Moderation({ hub, storage, clock, timers, bans, retention });
 * await mod.kick(roomId, "eve", "spam", "admin");
 */
import { type Clock, FrameHeader, Opcode, type TimerHandle, type Timers } from "@kalandra/proto";
import type { AuditRecord, Storage } from "../storage/types.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import { type Ban, BanList, type BanScope } from "./bans.js";
import {
  FRESH_CURSOR,
  isActive,
  planSweep,
  RetentionPolicies,
  type RetentionPolicy,
  type RoomCursor,
} from "./retention.js";
import type { RoomData } from "./roomData.js";

/** What moderation asks of the hub core (HubCore satisfies it). */
export interface ModeratedHub {
  kick(roomId: bigint, userId: string): Promise<Outcome>;
  secureDelete(roomId: bigint, logIndex: bigint): Promise<Outcome>;
  sequenceNotice(roomId: bigint, opcode: Opcode, payload: unknown): Promise<Outcome>;
}

export interface ModerationDeps {
  hub: ModeratedHub;
  /** The hub's storage: the audit log (and the rooms, unless `rooms` is given). */
  storage: Storage;
  /**
   * Where the rooms' frames and user index are read: the shards that own them
   * (moderation/roomData.ts; required with worker shards, whose rooms live in their own
   * storages). Default: `storage`, holding every room (in-process runtime).
   */
  rooms?: RoomData;
  clock: Clock;
  timers: Timers;
  bans: BanList;
  retention: RetentionPolicies;
  /** Between two retention sweeps (default 60 s). */
  sweepIntervalMs?: number;
  /** Most erasures of one sweep (default 1000); the rest waits for the next. */
  sweepBudget?: number;
}

export type Result<T> = ({ ok: true } & T) | { ok: false; refusal: Refusal };

export interface KickReport {
  roomId: bigint;
  leaves: number[];
  logIndexes: bigint[];
}

/** The bans and retention policies in force, replayed from the audit log. */
export function loadModerationState(
  storage: Pick<Storage, "readAudit">,
  retentionDefault?: RetentionPolicy,
): { bans: BanList; retention: RetentionPolicies } {
  const records = storage.readAudit();
  return {
    bans: BanList.fromAudit(records),
    retention: RetentionPolicies.fromAudit(records, retentionDefault),
  };
}

export class Moderation {
  private readonly cursors = new Map<bigint, RoomCursor>();
  private timer: TimerHandle | undefined;
  private sweeping: Promise<SweepReport> | undefined;
  private stopped = true;
  private readonly rooms: RoomData;

  constructor(private readonly d: ModerationDeps) {
    this.rooms = d.rooms ?? storageRoomData(d.storage);
  }

  get bans(): BanList {
    return this.d.bans;
  }

  get retention(): RetentionPolicies {
    return this.d.retention;
  }

  /** Removes every device of `userId` from the room (MLS Remove as external sender). */
  async kick(
    roomId: bigint,
    userId: string,
    reason: string,
    actor: string,
  ): Promise<Result<KickReport>> {
    const r = await this.d.hub.kick(roomId, userId);
    if (!r.ok) return r;
    const leaves = r.kick?.leaves ?? [];
    const logIndexes = r.kick?.logIndexes ?? [];
    await this.audit("kick", actor, roomId, {
      user_id: userId,
      reason,
      leaves,
      log_indexes: logIndexes,
      already_pending: r.kick?.alreadyPending ?? [],
    });
    return { ok: true, roomId, leaves, logIndexes };
  }

  /**
   * Bans `userId` from one room or the whole hub, then kicks it wherever it is a member.
   * The ban is recorded and in force before the kicks, so the user cannot slip back in
   * between (its external commits and adds are refused from then on).
   */
  async ban(
    userId: string,
    scope: BanScope,
    roomId: bigint | undefined,
    reason: string,
    actor: string,
  ): Promise<Result<{ kicked: KickReport[] }>> {
    if (scope === "room" && roomId === undefined) {
      return { ok: false, refusal: refuse("BAD_PAYLOAD", "a room ban needs a room") };
    }
    if (scope === "room" && roomId !== undefined && !(await this.rooms.hasRoom(roomId))) {
      return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${roomId}`) };
    }
    const ban: Ban =
      scope === "hub" ? { userId, scope } : { userId, scope, roomId: roomId as bigint };
    await this.audit("ban", actor, ban.roomId, { user_id: userId, scope, reason });
    this.d.bans.add(ban);
    const rooms = scope === "hub" ? await this.rooms.listRooms() : [roomId as bigint];
    const kicked: KickReport[] = [];
    for (const room of rooms) {
      const r = await this.kick(room, userId, `ban: ${reason}`, actor);
      if (r.ok) kicked.push({ roomId: room, leaves: r.leaves, logIndexes: r.logIndexes });
      else if (r.refusal.code !== "NOT_MEMBER" && r.refusal.code !== "UNKNOWN_ROOM") return r;
    }
    return { ok: true, kicked };
  }

  /** Lifts a ban; NOT_FOUND when there was none of that scope. */
  async unban(
    userId: string,
    scope: BanScope,
    roomId: bigint | undefined,
    actor: string,
  ): Promise<Result<object>> {
    const ban: Ban = scope === "hub" ? { userId, scope } : { userId, scope, roomId: roomId ?? -1n };
    if (!this.d.bans.list().some((b) => sameBan(b, ban))) {
      return { ok: false, refusal: refuse("NOT_FOUND", `no ${scope} ban of ${userId}`) };
    }
    await this.audit("unban", actor, ban.roomId, { user_id: userId, scope });
    this.d.bans.remove(ban);
    return { ok: true };
  }

  /**
   * Redaction: erases one application message for good (storage.secureDelete: the payload
   * key is destroyed, DESIGN §5) and sequences a REDACTION notice so members drop their
   * copy. The header stays: history keeps its shape.
   */
  async redact(
    roomId: bigint,
    logIndex: bigint,
    reason: string,
    actor: string,
  ): Promise<Result<{ noticeIndex: bigint }>> {
    const frame = await this.rooms.entry(roomId, logIndex);
    if (frame === undefined) {
      return { ok: false, refusal: refuse("NOT_FOUND", `no entry ${logIndex} in room ${roomId}`) };
    }
    if (FrameHeader.view(frame.header).opcode !== Opcode.APP_MESSAGE) {
      // Handshake frames carry no content the hub cannot read; members need them to follow
      // the group's epochs (docs/moderation.md).
      return { ok: false, refusal: refuse("FORBIDDEN", "only application messages are redacted") };
    }
    if (frame.erased) {
      return { ok: false, refusal: refuse("NOT_FOUND", `entry ${logIndex} is erased already`) };
    }
    const erased = await this.erase(roomId, logIndex);
    if (!erased.ok) return erased;
    // The sweeper counted it as a live message: it no longer is.
    const c = this.cursors.get(roomId);
    if (c !== undefined && logIndex >= c.cursor && logIndex < c.scanned) c.live--;
    await this.audit("redact", actor, roomId, {
      log_index: logIndex,
      reason,
      notice_index: erased.noticeIndex,
    });
    return erased;
  }

  /** Sets a room's retention policy (0 = no limit); the next sweep applies it. */
  async setRetention(
    roomId: bigint,
    policy: RetentionPolicy,
    actor: string,
  ): Promise<Result<object>> {
    if (!(await this.rooms.hasRoom(roomId))) {
      return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${roomId}`) };
    }
    await this.audit("retention", actor, roomId, {
      max_age_ms: policy.maxAgeMs,
      max_count: policy.maxCount,
    });
    this.d.retention.set(roomId, policy);
    return { ok: true };
  }

  /** Runs one retention sweep over every room (at most one at a time). */
  sweep(): Promise<SweepReport> {
    if (this.sweeping !== undefined) return this.sweeping;
    const p = this.doSweep().finally(() => {
      this.sweeping = undefined;
    });
    this.sweeping = p;
    return p;
  }

  /** Starts the periodic sweeper on the injected timers. */
  start(): void {
    this.stopped = false;
    this.arm();
  }

  /** Stops the sweeper and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.d.timers.clear(this.timer);
    this.timer = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  /** (room, log_index) of everything `userId` sent: an index lookup, nothing decrypted. */
  userMessages(userId: string): Promise<{ roomId: bigint; logIndex: bigint }[]> {
    return this.rooms.userIndex(userId);
  }

  /** Audit records from `from` on, at most `limit`, with the chain's verification. */
  auditLog(
    from = 0,
    limit = 1000,
  ): { records: AuditRecord[]; total: number; verification: ReturnType<Storage["verifyAudit"]> } {
    const all = this.d.storage.readAudit();
    return {
      records: all.slice(from, from + limit),
      total: all.length,
      verification: this.d.storage.verifyAudit(),
    };
  }

  /** Appends an audit record stamped with the injected clock. */
  audit(
    kind: string,
    actor: string,
    roomId: bigint | undefined,
    detail: Record<string, unknown>,
  ): Promise<void> {
    const record: AuditRecord = { kind, at: this.d.clock.now(), actor, detail };
    if (roomId !== undefined) record.roomId = roomId;
    return this.d.storage.appendAudit(record);
  }

  private async erase(roomId: bigint, logIndex: bigint): Promise<Result<{ noticeIndex: bigint }>> {
    const deleted = await this.d.hub.secureDelete(roomId, logIndex);
    if (!deleted.ok) return deleted;
    const notice = await this.d.hub.sequenceNotice(roomId, Opcode.REDACTION, {
      log_index: logIndex,
    });
    if (!notice.ok) return notice;
    return { ok: true, noticeIndex: notice.logIndex ?? -1n };
  }

  private arm(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = this.d.timers.set(this.d.sweepIntervalMs ?? 60_000, () => {
      this.timer = undefined;
      void this.sweep()
        .catch(() => undefined)
        .then(() => this.arm());
    });
  }

  private async doSweep(): Promise<SweepReport> {
    const report: SweepReport = { rooms: 0, erased: 0, failed: 0 };
    let budget = this.d.sweepBudget ?? 1000;
    const now = this.d.clock.now();
    for (const roomId of await this.rooms.listRooms()) {
      if (budget <= 0) break;
      const policy = this.d.retention.of(roomId);
      if (!isActive(policy)) continue;
      const at = this.cursors.get(roomId) ?? FRESH_CURSOR;
      const plan = await this.rooms.planSweep(roomId, policy, now, at, budget);
      const erased: bigint[] = [];
      let next = plan.next;
      for (const idx of plan.erase) {
        const r = await this.erase(roomId, idx);
        if (r.ok || r.refusal.code === "NOT_FOUND") {
          if (r.ok) erased.push(idx);
          continue;
        }
        // Try again from here at the next sweep: rescan this room from its old cursor.
        report.failed++;
        next = { cursor: at.cursor, scanned: at.cursor, live: 0 };
        break;
      }
      this.cursors.set(roomId, next);
      if (erased.length === 0) continue;
      report.rooms++;
      report.erased += erased.length;
      budget -= erased.length;
      await this.audit("retention_sweep", "hub", roomId, {
        erased,
        max_age_ms: policy.maxAgeMs,
        max_count: policy.maxCount,
      });
    }
    return report;
  }
}

export interface SweepReport {
  /** Rooms in which something was erased. */
  rooms: number;
  erased: number;
  /** Erasures that failed (retried by the next sweep). */
  failed: number;
}

/** RoomData read straight from one storage that holds every room (in-process runtime). */
export function storageRoomData(storage: Storage): RoomData {
  return {
    listRooms: async () => storage.listRooms(),
    hasRoom: async (roomId) => storage.getRoom(roomId) !== undefined,
    entry: async (roomId, logIndex) => {
      const [f] = storage.readRange(roomId, logIndex, 1);
      if (f === undefined || f.logIndex !== logIndex) return undefined;
      return { logIndex, header: f.header, erased: f.payload === null };
    },
    userIndex: async (userId) => storage.userIndex(userId),
    planSweep: async (roomId, policy, nowMs, at, budget) =>
      planSweep(storage, roomId, policy, nowMs, at, budget),
  };
}

function sameBan(a: Ban, b: Ban): boolean {
  return a.userId === b.userId && a.scope === b.scope && a.roomId === b.roomId;
}
