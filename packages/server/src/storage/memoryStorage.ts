/**
 * An honest in-memory implementation of `Storage` (types.ts): same semantics as the LMDB
 * storage except durability, for fast unit tests of the cores. Payloads are kept in clear
 * (there is no file to erase from); `secureDelete` drops the payload so reads return the
 * tombstone exactly as LMDB does. A "restart" is simulated by handing the same instance
 * to a fresh core: everything a core keeps in memory is lost, everything here stays.
 */
import { createHash } from "node:crypto";
import { MemoryIdentity } from "./memoryIdentity.js";
import { MemoryModerationAnswers } from "./memoryModerationAnswers.js";
import type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  BindResult,
  EraseContext,
  RoomMeta,
  RoomUsage,
  Storage,
  StoredDevice,
  StoredEnrollmentCode,
  StoredFrame,
  StoredKeyPackage,
  StoredWelcome,
} from "./types.js";

export class MemoryStorageError extends Error {
  override readonly name = "StorageError";
  constructor(
    readonly code: "CLOSED" | "GAP" | "DUPLICATE",
    message: string,
  ) {
    super(message);
  }
}

interface Row {
  header: Uint8Array;
  payload: Uint8Array | null;
}

const copy = (b: Uint8Array): Uint8Array => b.slice();
const respKey = (senderId: bigint, requestId: number): string => `${senderId}:${requestId}`;

interface ChainedAudit {
  record: AuditRecord;
  hash: string;
}

function auditHash(prev: string, record: AuditRecord): string {
  const body = JSON.stringify(record, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  return createHash("sha256").update(prev).update(body).digest("hex");
}

export class MemoryStorage implements Storage {
  private readonly logs = new Map<bigint, Row[]>();
  private readonly responses = new Map<string, Uint8Array>();
  private readonly rooms = new Map<bigint, RoomMeta>();
  private readonly roomStates = new Map<bigint, Uint8Array>();
  private readonly users = new Map<string, { roomId: bigint; logIndex: bigint }[]>();
  private keyPackages: StoredKeyPackage[] = [];
  /** Welcomes in the order they were stored (oldest first). */
  private welcomes: StoredWelcome[] = [];
  /** Exposed to tests so they can tamper with the chain and see the verifier notice. */
  readonly audit: ChainedAudit[] = [];
  private closed = false;
  private readonly identity = new MemoryIdentity(() => this.live());
  private readonly moderationAnswers = new MemoryModerationAnswers(() => this.live());
  /** Number of `append` calls, so tests and benches can see group commit at work. */
  appendCalls = 0;

  private live(): void {
    if (this.closed) throw new MemoryStorageError("CLOSED", "storage is closed");
  }

  async append(entries: readonly AppendEntry[]): Promise<void> {
    this.live();
    this.appendCalls++;
    // Validate the whole batch first so it is applied all or nothing.
    const next = new Map<bigint, bigint>();
    for (const e of entries) {
      const expected = next.get(e.roomId) ?? this.nextIndex(e.roomId);
      if (e.logIndex !== expected) {
        throw new MemoryStorageError(
          "GAP",
          `room ${e.roomId}: append at ${e.logIndex}, expected ${expected}`,
        );
      }
      next.set(e.roomId, expected + 1n);
    }
    for (const e of entries) {
      let log = this.logs.get(e.roomId);
      if (log === undefined) {
        log = [];
        this.logs.set(e.roomId, log);
      }
      log.push({ header: copy(e.header), payload: copy(e.payload) });
      this.responses.set(respKey(e.senderId, e.requestId), copy(e.response));
      if (e.userId !== undefined) {
        let idx = this.users.get(e.userId);
        if (idx === undefined) {
          idx = [];
          this.users.set(e.userId, idx);
        }
        idx.push({ roomId: e.roomId, logIndex: e.logIndex });
      }
      if (e.roomState !== undefined) this.roomStates.set(e.roomId, copy(e.roomState));
    }
  }

  readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[] {
    this.live();
    const log = this.logs.get(roomId) ?? [];
    const out: StoredFrame[] = [];
    for (let i = from; i < BigInt(log.length) && out.length < limit; i++) {
      const row = log[Number(i)]!;
      out.push({
        roomId,
        logIndex: i,
        header: copy(row.header),
        payload: row.payload === null ? null : copy(row.payload),
      });
    }
    return out;
  }

  nextIndex(roomId: bigint): bigint {
    this.live();
    return BigInt(this.logs.get(roomId)?.length ?? 0);
  }

  getResponse(senderId: bigint, requestId: number): Uint8Array | undefined {
    this.live();
    const r = this.responses.get(respKey(senderId, requestId));
    return r === undefined ? undefined : copy(r);
  }

  async putResponse(senderId: bigint, requestId: number, response: Uint8Array): Promise<void> {
    this.live();
    this.responses.set(respKey(senderId, requestId), copy(response));
  }

  getModerationAnswer(senderId: bigint, requestId: number): Uint8Array | undefined {
    return this.moderationAnswers.getModerationAnswer(senderId, requestId);
  }

  putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number> {
    return this.moderationAnswers.putModerationAnswer(senderId, requestId, answer, maxAnswers);
  }

  async putRoom(meta: RoomMeta, roomState: Uint8Array): Promise<void> {
    this.live();
    this.rooms.set(meta.roomId, { ...meta, settings: { ...meta.settings } });
    this.roomStates.set(meta.roomId, copy(roomState));
  }

  getRoom(roomId: bigint): RoomMeta | undefined {
    this.live();
    const m = this.rooms.get(roomId);
    return m === undefined ? undefined : { ...m, settings: { ...m.settings } };
  }

  listRooms(): bigint[] {
    this.live();
    return [...this.rooms.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  getRoomState(roomId: bigint): Uint8Array | undefined {
    this.live();
    const s = this.roomStates.get(roomId);
    return s === undefined ? undefined : copy(s);
  }

  async putRoomState(roomId: bigint, roomState: Uint8Array): Promise<void> {
    this.live();
    this.roomStates.set(roomId, copy(roomState));
  }

  userIndex(userId: string): { roomId: bigint; logIndex: bigint }[] {
    this.live();
    return (this.users.get(userId) ?? []).map((e) => ({ ...e }));
  }

  roomUsage(roomId: bigint): RoomUsage {
    this.live();
    let livePayloads = 0;
    let bytes = (this.roomStates.get(roomId)?.length ?? 0) + (this.rooms.has(roomId) ? 64 : 0);
    const log = this.logs.get(roomId) ?? [];
    for (const row of log) {
      bytes += 24 + row.header.length;
      if (row.payload === null) continue;
      livePayloads++;
      // Key reference, 32-byte key and the sealing's 16-byte tag, as the LMDB storage has.
      bytes += 24 + 5 + 32 + 24 + row.payload.length + 16;
    }
    return { frames: log.length, livePayloads, bytes };
  }

  livePayloads(roomId: bigint, from: bigint, limit: number): bigint[] {
    this.live();
    const out: bigint[] = [];
    const log = this.logs.get(roomId) ?? [];
    for (let i = from < 0n ? 0 : Number(from); i < log.length && out.length < limit; i++) {
      if (log[i]?.payload !== null) out.push(BigInt(i));
    }
    return out;
  }

  async retireRoom(meta: RoomMeta): Promise<void> {
    this.live();
    if (meta.deleted === undefined) throw new Error("a retired room needs a tombstone");
    this.rooms.set(meta.roomId, { ...meta, settings: { ...meta.settings } });
    this.roomStates.delete(meta.roomId);
  }

  async dropRoomLog(roomId: bigint): Promise<number> {
    this.live();
    const log = this.logs.get(roomId) ?? [];
    const live = log.findIndex((r) => r.payload !== null);
    if (live >= 0) throw new Error(`room ${roomId} index ${live} is not erased`);
    this.logs.delete(roomId);
    for (const [user, rows] of this.users) {
      this.users.set(
        user,
        rows.filter((r) => r.roomId !== roomId),
      );
    }
    return log.length;
  }

  async secureDelete(roomId: bigint, logIndex: bigint, _context?: EraseContext): Promise<boolean> {
    this.live();
    const row = this.logs.get(roomId)?.[Number(logIndex)];
    if (row === undefined || row.payload === null) return false;
    row.payload.fill(0);
    row.payload = null;
    return true;
  }

  async putKeyPackages(packages: readonly StoredKeyPackage[]): Promise<void> {
    this.live();
    for (const p of packages) {
      const hex = Buffer.from(p.ref).toString("hex");
      if (this.keyPackages.some((k) => Buffer.from(k.ref).toString("hex") === hex)) continue;
      // A device keeps exactly one last-resort package: a new one replaces the old.
      if (p.lastResort) {
        this.keyPackages = this.keyPackages.filter(
          (k) => !(k.lastResort && k.senderId === p.senderId),
        );
      }
      this.keyPackages.push({ ...p, ref: copy(p.ref), data: copy(p.data) });
    }
  }

  async claimKeyPackages(userId: string, nowSeconds: bigint): Promise<StoredKeyPackage[]> {
    this.live();
    const devices = new Set(
      this.keyPackages.filter((k) => k.userId === userId).map((k) => k.senderId),
    );
    const out: StoredKeyPackage[] = [];
    for (const senderId of [...devices].sort((a, b) => (a < b ? -1 : 1))) {
      const usable = this.keyPackages.filter(
        (k) => k.senderId === senderId && k.userId === userId && k.notAfter >= nowSeconds,
      );
      // One-shot packages first (RFC 9420 §16.8: a KeyPackage should be used once);
      // the last-resort package only when nothing else is left, and it stays.
      const pick = usable.find((k) => !k.lastResort) ?? usable.find((k) => k.lastResort);
      if (pick === undefined) continue;
      if (!pick.lastResort) this.keyPackages = this.keyPackages.filter((k) => k !== pick);
      out.push({ ...pick, ref: copy(pick.ref), data: copy(pick.data) });
    }
    return out;
  }

  countKeyPackages(senderId: bigint, nowSeconds: bigint): number {
    this.live();
    return this.keyPackages.filter(
      (k) => k.senderId === senderId && !k.lastResort && k.notAfter >= nowSeconds,
    ).length;
  }

  async putWelcome(w: StoredWelcome, maxPerDevice: number): Promise<number> {
    this.live();
    const same = (x: StoredWelcome) =>
      x.senderId === w.senderId && x.roomId === w.roomId && x.logIndex === w.logIndex;
    if (this.welcomes.some(same)) return 0;
    this.welcomes.push({ ...w, frame: copy(w.frame) });
    const mine = this.welcomes.filter((x) => x.senderId === w.senderId);
    const drop = new Set(mine.slice(0, Math.max(0, mine.length - maxPerDevice)));
    this.welcomes = this.welcomes.filter((x) => !drop.has(x));
    return drop.size;
  }

  welcomesFor(senderId: bigint, nowSeconds: bigint): StoredWelcome[] {
    this.live();
    return this.welcomes
      .filter((w) => w.senderId === senderId && w.expiresAt > nowSeconds)
      .map((w) => ({ ...w, frame: copy(w.frame) }));
  }

  async removeWelcome(senderId: bigint, roomId: bigint, logIndex: bigint): Promise<boolean> {
    this.live();
    const before = this.welcomes.length;
    this.welcomes = this.welcomes.filter(
      (w) => !(w.senderId === senderId && w.roomId === roomId && w.logIndex === logIndex),
    );
    return this.welcomes.length < before;
  }

  async expireWelcomes(nowSeconds: bigint, limit: number): Promise<number> {
    this.live();
    const expired = new Set(this.welcomes.filter((w) => w.expiresAt <= nowSeconds).slice(0, limit));
    this.welcomes = this.welcomes.filter((w) => !expired.has(w));
    return expired.size;
  }

  async appendAudit(record: AuditRecord): Promise<void> {
    this.live();
    const prev = this.audit.at(-1)?.hash ?? "";
    this.audit.push({ record: structuredClone(record), hash: auditHash(prev, record) });
  }

  readAudit(): AuditRecord[] {
    this.live();
    return this.audit.map((a) => structuredClone(a.record));
  }

  verifyAudit(): AuditVerification {
    this.live();
    let prev = "";
    for (let i = 0; i < this.audit.length; i++) {
      const a = this.audit[i]!;
      if (auditHash(prev, a.record) !== a.hash) {
        return { ok: false, firstBroken: i, reason: "hash chain broken" };
      }
      prev = a.hash;
    }
    return { ok: true, records: this.audit.length };
  }

  putUser(userId: string, createdAt: bigint): Promise<void> {
    return this.identity.putUser(userId, createdAt);
  }

  listUsers(): { userId: string; createdAt: bigint }[] {
    return this.identity.listUsers();
  }

  getDevice(senderId: bigint): StoredDevice | undefined {
    return this.identity.getDevice(senderId);
  }

  devicesOf(userId: string): StoredDevice[] {
    return this.identity.devicesOf(userId);
  }

  bindDevice(device: StoredDevice, maxActive: number): Promise<BindResult> {
    return this.identity.bindDevice(device, maxActive);
  }

  revokeDevice(senderId: bigint, at: bigint): Promise<StoredDevice | undefined> {
    return this.identity.revokeDevice(senderId, at);
  }

  putEnrollmentCode(code: StoredEnrollmentCode): Promise<void> {
    return this.identity.putEnrollmentCode(code);
  }

  takeEnrollmentCode(codeHash: Uint8Array, now: bigint): Promise<StoredEnrollmentCode | undefined> {
    return this.identity.takeEnrollmentCode(codeHash, now);
  }

  useNonce(nonce: Uint8Array, expiresAt: bigint, now: bigint): Promise<boolean> {
    return this.identity.useNonce(nonce, expiresAt, now);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A fresh in-memory storage. */
export function openMemoryStorage(): MemoryStorage {
  return new MemoryStorage();
}
