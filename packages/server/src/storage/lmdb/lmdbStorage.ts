/**
 * The production `Storage` (DESIGN §5, docs/storage.md): LMDB for everything except payload
 * keys, which live in the fixed-slot key vault so that erasing one overwrites its bytes.
 *
 * One accepted frame = one LMDB transaction with header, key slot reference, sealed payload,
 * user index row, idempotency record and room state. Before that transaction is queued the
 * frame's key is written to its vault slot and fdatasync'ed, so a committed frame always
 * finds its key after a crash. lmdb-js batches the transactions queued in one event turn
 * into one commit, and concurrent vault syncs share one fdatasync: that is the group commit
 * that makes thousands of appends per second possible.
 */
import { join, resolve } from "node:path";
import {
  type Clock,
  type Rng,
  stateCborDecode,
  stateCborEncode,
  systemClock,
  systemRng,
} from "@kalandra/proto";
import { encodeAuditRecord, GENESIS_HASH } from "../../audit/chain.js";
import { asStorageError, StorageError } from "../errors.js";
import {
  copyBytes,
  frameKey,
  prefixEnd,
  readFrameKey,
  readRoomKey,
  requestKey,
  roomKey,
  userPrefix,
} from "../keys.js";
import { KEY_BYTES } from "../seal.js";
import { readKeyRef, readU32, STATE_LIVE, u32 } from "../slotRef.js";
import type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  RoomMeta,
  Storage,
  StoredFrame,
  StoredKeyPackage,
} from "../types.js";
import { AuditLog } from "./auditLog.js";
import type { EraseContext } from "./erasure.js";
import { eraseFrame } from "./erasure.js";
import { openFrame, putRows, sealRows } from "./frames.js";
import { claimPackages, countPackages, putPackages } from "./keyPackages.js";
import { type Env, META, openEnv, type Tables, VAULT_FILE } from "./layout.js";
import { CLEAN, recoverVault } from "./recovery.js";
import { KeyVault, type SlotAllocator } from "./vault.js";

export interface LmdbStorageOptions {
  /** The data directory; created when missing. */
  path: string;
  /** Source of payload keys (seeded in simulation). */
  rng?: Rng;
  /** Time stamps of the audit records storage writes itself (secure_delete). */
  clock?: Clock;
  /** Skip every fsync (LMDB and vault): for simulations and tests only, never production. */
  noSync?: boolean;
}

export type { EraseContext } from "./erasure.js";

/** `Storage` plus what tests, tools and the operator CLI need on top. */
export interface LmdbStorage extends Storage {
  readonly path: string;
  /**
   * FORENSIC TESTS ONLY: a copy of the payload key of a live frame, so a test can scan the
   * files for it after erasure. Never call it from production code.
   */
  inspectPayloadKey(roomId: bigint, logIndex: bigint): Uint8Array | undefined;
  /**
   * `Storage.secureDelete`, plus who asked and why for the audit record (default actor
   * "hub", no reason).
   */
  secureDelete(roomId: bigint, logIndex: bigint, context?: EraseContext): Promise<boolean>;
  /** Vault slots in use or free, and how many are free (for the docs' figures and tests). */
  vaultStats(): { highWaterMark: number; free: number };
  /** Resolves when every write started so far (including background slot recycling) ended. */
  idle(): Promise<void>;
}

const open = new Set<string>();

export async function openLmdbStorage(opts: LmdbStorageOptions): Promise<LmdbStorage> {
  const path = resolve(opts.path);
  if (open.has(path)) {
    throw new StorageError("LOCKED", `${opts.path} is already open in this process`);
  }
  const env = openEnv(opts.path, { noSync: opts.noSync === true });
  let vault: KeyVault;
  try {
    vault = KeyVault.open(join(opts.path, VAULT_FILE), opts.noSync === true);
  } catch (err) {
    await env.root.close();
    throw err;
  }
  try {
    const slots = await recoverVault(env, vault, opts.noSync === true);
    const storage = new LmdbStorageImpl(env, vault, slots, opts);
    open.add(path);
    return storage;
  } catch (err) {
    vault.close();
    await env.root.close();
    throw asStorageError(err, `recover ${opts.path}`);
  }
}

class LmdbStorageImpl implements LmdbStorage {
  private closed = false;
  private readonly t: Tables;
  /** Next log_index per room as committed (what `nextIndex` reports). */
  private readonly next = new Map<bigint, bigint>();
  /** Next log_index per room counting appends queued but not yet committed (gap check). */
  private readonly planned = new Map<bigint, bigint>();
  private readonly inflight = new Set<Promise<unknown>>();
  /**
   * Commit of the newest append (true = committed). Appends may overlap (sealing and the
   * vault sync of one while another commits); each waits for the one before it to commit
   * before queuing its own transaction, and gives up if that one failed, so the log on
   * disk never has a batch after a missing one.
   */
  private lastCommit: Promise<boolean> = Promise.resolve(true);
  private readonly erasing = new Map<string, Promise<boolean>>();
  private readonly rng: Rng;
  private readonly clock: Clock;
  private readonly noSync: boolean;

  private readonly audit: AuditLog;
  readonly path: string;

  constructor(
    private readonly env: Env,
    private readonly vault: KeyVault,
    private readonly slots: SlotAllocator,
    opts: LmdbStorageOptions,
  ) {
    this.t = env.tables;
    this.audit = new AuditLog(env.tables);
    this.path = opts.path;
    this.rng = opts.rng ?? systemRng;
    this.clock = opts.clock ?? systemClock;
    this.noSync = opts.noSync === true;
  }

  private live(): void {
    if (this.closed) throw new StorageError("CLOSED", "storage is closed");
  }

  /**
   * Starts an asynchronous operation: refuses it (as a rejection, never a synchronous
   * throw) once closed, turns synchronous failures into rejections, and lets `close` wait.
   */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      this.live();
      return this.track(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Runs a write so that `close` waits for it. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = (): void => {
      this.inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Queues `fn` as (part of) one LMDB write transaction and waits until it is durable. */
  private async write<T>(fn: () => T): Promise<T> {
    let result: T;
    try {
      result = await this.env.root.transaction(fn);
      if (!this.noSync) await this.env.root.flushed;
    } catch (err) {
      throw asStorageError(err, "commit");
    }
    return result;
  }

  append(entries: readonly AppendEntry[]): Promise<void> {
    return this.run(() => this.doAppend(entries));
  }

  private async doAppend(entries: readonly AppendEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // Validate and copy everything synchronously: the caller may reuse its buffers.
    const planned = new Map<bigint, bigint>();
    for (const e of entries) {
      if (e.header.length !== 128) {
        throw new StorageError("INVALID", `"header" expected 128 bytes, got ${e.header.length}`);
      }
      const expected =
        planned.get(e.roomId) ?? this.planned.get(e.roomId) ?? this.nextIndex(e.roomId);
      if (e.logIndex !== expected) {
        throw new StorageError(
          "GAP",
          `room ${e.roomId}: append at ${e.logIndex}, expected ${expected}`,
        );
      }
      planned.set(e.roomId, expected + 1n);
    }
    const { slots, reused } = this.slots.allocate(entries.length);
    const hwm = this.slots.highWaterMark;
    // One draw of randomness for the whole batch; every key is used for one payload only.
    const keys = copyBytes(this.rng.bytes(KEY_BYTES * entries.length));
    const rows = sealRows(entries, slots, keys);
    for (const [room, n] of planned) this.planned.set(room, n);
    const t = this.t;
    let committed = false;
    const before = this.lastCommit;
    let settle!: (ok: boolean) => void;
    this.lastCommit = new Promise<boolean>((r) => {
      settle = r;
    });
    try {
      try {
        this.vault.writeMany(slots, keys);
      } finally {
        // From here on the vault holds the only copy of the keys.
        keys.fill(0);
      }
      // The keys must be durable before any commit that references them.
      await this.vault.sync();
      if (!(await before)) {
        throw new StorageError("IO", "an earlier append failed; this batch was not written");
      }
      await this.env.root.transaction(() => {
        // Reads first, then only writes (see keyPackages.ts on throwing callbacks).
        const stored = t.meta.get(META.vaultHwm);
        const raiseHwm = stored === undefined || readU32(stored) < hwm;
        putRows(t, rows);
        for (const s of reused) t.vault_free.removeSync(u32(s));
        if (raiseHwm) t.meta.putSync(META.vaultHwm, u32(hwm));
      });
      committed = true;
      settle(true);
      if (!this.noSync) await this.env.root.flushed;
    } catch (err) {
      if (!committed) {
        settle(false);
        // Nothing of this batch committed: forget the planned indexes and give the slots
        // back once their keys are gone from the vault.
        for (const room of planned.keys()) this.planned.delete(room);
        for (const s of slots) this.vault.wipe(s);
        this.vault.syncNow();
        for (const s of slots) this.slots.release(s);
      }
      throw asStorageError(err, "append");
    }
    for (const [room, n] of planned) {
      const had = this.next.get(room);
      if (had === undefined || had < n) this.next.set(room, n);
    }
  }

  readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[] {
    this.live();
    if (limit <= 0 || from < 0n) return [];
    const start = frameKey(roomId, from);
    const out: StoredFrame[] = [];
    for (const { key, value } of this.t.headers.getRange({
      start,
      end: prefixEnd(roomKey(roomId), 8),
      limit,
    })) {
      const k = copyBytes(key);
      const { logIndex } = readFrameKey(k);
      out.push({
        roomId,
        logIndex,
        header: copyBytes(value),
        payload: openFrame(this.t, this.vault, k, `room ${roomId} index ${logIndex}`),
      });
    }
    return out;
  }

  nextIndex(roomId: bigint): bigint {
    this.live();
    const cached = this.next.get(roomId);
    if (cached !== undefined) return cached;
    const prefix = roomKey(roomId);
    let n = 0n;
    for (const key of this.t.headers.getKeys({
      start: prefixEnd(prefix, 8),
      end: prefix,
      reverse: true,
      limit: 1,
    })) {
      n = readFrameKey(copyBytes(key)).logIndex + 1n;
    }
    this.next.set(roomId, n);
    return n;
  }

  getResponse(senderId: bigint, requestId: number): Uint8Array | undefined {
    this.live();
    const v = this.t.requests.get(requestKey(senderId, requestId));
    return v === undefined ? undefined : copyBytes(v);
  }

  putResponse(senderId: bigint, requestId: number, response: Uint8Array): Promise<void> {
    return this.run(() => {
      const key = requestKey(senderId, requestId);
      const value = copyBytes(response);
      return this.write(() => this.t.requests.putSync(key, value));
    });
  }

  putRoom(meta: RoomMeta, roomState: Uint8Array): Promise<void> {
    return this.run(() => {
      const key = roomKey(meta.roomId);
      const value = stateCborEncode({ created_at: meta.createdAt, settings: meta.settings });
      const state = copyBytes(roomState);
      return this.write(() => {
        this.t.rooms.putSync(key, value);
        this.t.mls_state.putSync(key, state);
      });
    });
  }

  getRoom(roomId: bigint): RoomMeta | undefined {
    this.live();
    const bytes = this.t.rooms.get(roomKey(roomId));
    if (bytes === undefined) return undefined;
    let v: unknown;
    try {
      v = stateCborDecode(bytes);
    } catch (err) {
      throw new StorageError("CORRUPT", `room ${roomId} metadata does not decode`, { cause: err });
    }
    const m = v as { created_at?: unknown; settings?: unknown } | null;
    if (
      m === null ||
      typeof m.created_at !== "bigint" ||
      typeof m.settings !== "object" ||
      m.settings === null
    ) {
      throw new StorageError("CORRUPT", `room ${roomId} metadata is malformed`);
    }
    return { roomId, createdAt: m.created_at, settings: m.settings as Record<string, unknown> };
  }

  listRooms(): bigint[] {
    this.live();
    return [...this.t.rooms.getKeys()].map((k) => readRoomKey(copyBytes(k)));
  }

  getRoomState(roomId: bigint): Uint8Array | undefined {
    this.live();
    const v = this.t.mls_state.get(roomKey(roomId));
    return v === undefined ? undefined : copyBytes(v);
  }

  putRoomState(roomId: bigint, roomState: Uint8Array): Promise<void> {
    return this.run(() => {
      const key = roomKey(roomId);
      const value = copyBytes(roomState);
      return this.write(() => this.t.mls_state.putSync(key, value));
    });
  }

  userIndex(userId: string): { roomId: bigint; logIndex: bigint }[] {
    this.live();
    const prefix = userPrefix(userId);
    const out: { roomId: bigint; logIndex: bigint }[] = [];
    for (const key of this.t.user_index.getKeys({ start: prefix, end: prefixEnd(prefix, 24) })) {
      if (key.length === prefix.length + 24) out.push(readFrameKey(key.subarray(prefix.length)));
    }
    return out;
  }

  secureDelete(roomId: bigint, logIndex: bigint, context?: EraseContext): Promise<boolean> {
    let key: Uint8Array;
    try {
      this.live();
      key = frameKey(roomId, logIndex);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = Buffer.from(key).toString("hex");
    const running = this.erasing.get(id);
    if (running !== undefined) return running.then(() => false);
    const p = this.track(
      eraseFrame(
        {
          env: this.env,
          vault: this.vault,
          slots: this.slots,
          audit: this.audit,
          clock: this.clock,
          durable: (fn) => this.write(fn),
          background: (q) => this.track(q),
        },
        { key, roomId, logIndex, ...(context ?? {}) },
      ),
    );
    this.erasing.set(id, p);
    const done = (): void => {
      this.erasing.delete(id);
    };
    p.then(done, done);
    return p;
  }

  putKeyPackages(packages: readonly StoredKeyPackage[]): Promise<void> {
    return this.run(() => {
      const copies = packages.map((p) => ({
        ...p,
        ref: copyBytes(p.ref),
        data: copyBytes(p.data),
      }));
      return this.write(() => putPackages(this.t, copies));
    });
  }

  claimKeyPackages(userId: string, nowSeconds: bigint): Promise<StoredKeyPackage[]> {
    return this.run(() => this.write(() => claimPackages(this.t, userId, nowSeconds)));
  }

  countKeyPackages(senderId: bigint, nowSeconds: bigint): number {
    this.live();
    return countPackages(this.t, senderId, nowSeconds);
  }

  appendAudit(record: AuditRecord): Promise<void> {
    return this.run(async () => {
      try {
        // Fail early and clearly on a record CBOR cannot carry (the real encoding happens
        // in the transaction, where the previous record's hash is known).
        encodeAuditRecord(GENESIS_HASH, 0n, record);
      } catch (err) {
        throw new StorageError("INVALID", `audit record cannot be encoded: ${String(err)}`);
      }
      try {
        await this.write(() => this.audit.appendInTxn(record));
      } catch (err) {
        this.audit.reload();
        throw err;
      }
    });
  }

  readAudit(): AuditRecord[] {
    this.live();
    return this.audit.read();
  }

  verifyAudit(): AuditVerification {
    this.live();
    return this.audit.verify();
  }

  inspectPayloadKey(roomId: bigint, logIndex: bigint): Uint8Array | undefined {
    this.live();
    const ref = this.t.payload_keys.get(frameKey(roomId, logIndex));
    if (ref === undefined) return undefined;
    const { state, slot } = readKeyRef(ref, `room ${roomId} index ${logIndex}`);
    return state === STATE_LIVE ? this.vault.read(slot) : undefined;
  }

  vaultStats(): { highWaterMark: number; free: number } {
    return { highWaterMark: this.slots.highWaterMark, free: this.slots.freeCount };
  }

  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    try {
      await this.env.root.transaction(() => this.t.meta.putSync(META.clean, CLEAN));
      if (!this.noSync) await this.env.root.flushed;
      this.vault.syncNow();
    } finally {
      this.vault.close();
      await this.env.root.close();
      open.delete(resolve(this.path));
    }
  }
}
