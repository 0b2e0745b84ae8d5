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
import { type Clock, type Rng, systemClock, systemRng } from "@kalandra/proto";
import {
  type AuditHead,
  decodeHead,
  EMPTY_HEAD,
  encodeAuditRecord,
  encodeHead,
  hashRecord,
  verifyAuditChain,
} from "../audit/chain.js";
import { readAuditRecords, readAuditTable } from "../audit/verifyLog.js";
import { decodeCbor, encodeCbor } from "./codec.js";
import { asStorageError, StorageError } from "./errors.js";
import { claimPackages, countPackages, putPackages } from "./keyPackages.js";
import {
  copyBytes,
  frameKey,
  prefixEnd,
  readFrameKey,
  readRoomKey,
  requestKey,
  roomKey,
  u64Key,
  userIndexKey,
  userPrefix,
} from "./keys.js";
import { type Env, META, openEnv, type Tables, VAULT_FILE } from "./layout.js";
import { KEY_BYTES, openPayload, sealPayload } from "./seal.js";
import type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  RoomMeta,
  Storage,
  StoredFrame,
  StoredKeyPackage,
} from "./types.js";
import { KeyVault, SlotAllocator } from "./vault.js";

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

/** Who erased a frame and why, for the audit record of a secure delete. */
export interface EraseContext {
  actor?: string;
  reason?: string;
}

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

const STATE_LIVE = 1;
const STATE_ERASED = 2;
const ONE = new Uint8Array([0]);
const CLEAN = new Uint8Array([1]);
const DIRTY = new Uint8Array([0]);
const open = new Set<string>();

function u32(v: number): Uint8Array {
  return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

function readU32(b: Uint8Array): number {
  if (b.length < 4) throw new StorageError("CORRUPT", "u32 field too short");
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

/** payload_keys value: state (1) ‖ vault slot (u32 BE). */
function keyRef(state: number, slot: number): Uint8Array {
  return new Uint8Array([
    state,
    slot >>> 24,
    (slot >>> 16) & 0xff,
    (slot >>> 8) & 0xff,
    slot & 0xff,
  ]);
}

function readKeyRef(b: Uint8Array, where: string): { state: number; slot: number } {
  if (b.length !== 5 || (b[0] !== STATE_LIVE && b[0] !== STATE_ERASED)) {
    throw new StorageError("CORRUPT", `payload key reference of ${where} is malformed`);
  }
  return { state: b[0], slot: readU32(b.subarray(1)) };
}

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
    const storage = await LmdbStorageImpl.recover(env, vault, opts);
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
  private readonly erasing = new Map<string, Promise<boolean>>();
  private readonly rng: Rng;
  private readonly clock: Clock;
  private readonly noSync: boolean;

  private constructor(
    private readonly env: Env,
    private readonly vault: KeyVault,
    private readonly slots: SlotAllocator,
    private auditHead: AuditHead,
    readonly path: string,
    opts: LmdbStorageOptions,
  ) {
    this.t = env.tables;
    this.rng = opts.rng ?? systemRng;
    this.clock = opts.clock ?? systemClock;
    this.noSync = opts.noSync === true;
  }

  /**
   * Brings the vault in line with LMDB after any stop (docs/storage.md "Crash atomicity"):
   * slots past the high-water mark belong to frames that never committed and are wiped;
   * slots marked dirty were erased in LMDB but maybe not yet in the vault and are wiped
   * again; after an unclean stop, free slots may hold the key of an append that died
   * before its commit, so every non-empty free slot is wiped.
   */
  static async recover(
    env: Env,
    vault: KeyVault,
    opts: LmdbStorageOptions,
  ): Promise<LmdbStorageImpl> {
    const t = env.tables;
    const hwmBytes = t.meta.get(META.vaultHwm);
    const hwm = hwmBytes === undefined ? 0 : readU32(hwmBytes);
    const clean = t.meta.get(META.clean)?.[0] === 1;
    vault.truncateTo(hwm);
    const dirty = [...t.vault_dirty.getKeys()].map((k) => readU32(k));
    const free = [...t.vault_free.getKeys()].map((k) => readU32(k));
    let wiped = 0;
    for (const s of dirty) vault.wipe(s);
    if (!clean) {
      for (const s of free) {
        if (!vault.isEmpty(s)) {
          vault.wipe(s);
          wiped++;
        }
      }
    }
    if (dirty.length + wiped > 0) vault.syncNow();
    await env.root.transaction(() => {
      for (const s of dirty) {
        t.vault_dirty.removeSync(u32(s));
        t.vault_free.putSync(u32(s), ONE);
      }
      t.meta.putSync(META.clean, DIRTY);
    });
    if (opts.noSync !== true) await env.root.flushed;
    const headBytes = t.meta.get(META.auditHead);
    const head = headBytes === undefined ? EMPTY_HEAD : decodeHead(copyBytes(headBytes));
    const allocator = new SlotAllocator([...free, ...dirty], hwm);
    return new LmdbStorageImpl(env, vault, allocator, head, opts.path, opts);
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
    const rows = entries.map((e, i) => {
      const key = frameKey(e.roomId, e.logIndex);
      const sealed = sealPayload(keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), key, e.payload);
      return {
        key,
        slot: slots[i] as number,
        sealed,
        header: copyBytes(e.header),
        request: requestKey(e.senderId, e.requestId),
        response: copyBytes(e.response),
        user: e.userId === undefined ? undefined : userIndexKey(e.userId, e.roomId, e.logIndex),
        room: e.roomState === undefined ? undefined : roomKey(e.roomId),
        roomState: e.roomState === undefined ? undefined : copyBytes(e.roomState),
      };
    });
    for (const [room, n] of planned) this.planned.set(room, n);
    const t = this.t;
    try {
      try {
        this.vault.writeMany(slots, keys);
      } finally {
        // From here on the vault holds the only copy of the keys.
        keys.fill(0);
      }
      // The keys must be durable before any commit that references them.
      await this.vault.sync();
      await this.write(() => {
        // Reads first, then only writes (see keyPackages.ts on throwing callbacks).
        const stored = t.meta.get(META.vaultHwm);
        const raiseHwm = stored === undefined || readU32(stored) < hwm;
        for (const r of rows) {
          t.headers.putSync(r.key, r.header);
          t.payload_keys.putSync(r.key, keyRef(STATE_LIVE, r.slot));
          t.payloads.putSync(r.key, r.sealed);
          t.requests.putSync(r.request, r.response);
          if (r.user !== undefined) t.user_index.putSync(r.user, ONE);
          if (r.room !== undefined && r.roomState !== undefined)
            t.mls_state.putSync(r.room, r.roomState);
        }
        for (const s of reused) t.vault_free.removeSync(u32(s));
        if (raiseHwm) t.meta.putSync(META.vaultHwm, u32(hwm));
      });
    } catch (err) {
      // Nothing of this batch committed: forget the planned indexes and give the slots back
      // once their keys are gone from the vault.
      for (const room of planned.keys()) this.planned.delete(room);
      for (const s of slots) this.vault.wipe(s);
      this.vault.syncNow();
      for (const s of slots) this.slots.release(s);
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
        payload: this.openFrame(k, roomId, logIndex),
      });
    }
    return out;
  }

  private openFrame(key: Uint8Array, roomId: bigint, logIndex: bigint): Uint8Array | null {
    const where = `room ${roomId} index ${logIndex}`;
    const ref = this.t.payload_keys.get(key);
    if (ref === undefined)
      throw new StorageError("CORRUPT", `${where} has no payload key reference`);
    const { state, slot } = readKeyRef(ref, where);
    if (state === STATE_ERASED) return null;
    const sealed = this.t.payloads.get(key);
    if (sealed === undefined) throw new StorageError("CORRUPT", `${where} has no sealed payload`);
    const payloadKey = this.vault.read(slot);
    try {
      return copyBytes(openPayload(payloadKey, key, sealed));
    } catch (err) {
      throw new StorageError("CORRUPT", `${where}: sealed payload does not open`, { cause: err });
    } finally {
      payloadKey.fill(0);
    }
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
      const value = encodeCbor({ created_at: meta.createdAt, settings: meta.settings });
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
      v = decodeCbor(bytes);
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
    const p = this.track(this.doSecureDelete(key, roomId, logIndex, context ?? {}));
    this.erasing.set(id, p);
    const done = (): void => {
      this.erasing.delete(id);
    };
    p.then(done, done);
    return p;
  }

  /**
   * Three steps, each durable before the next (docs/storage.md "Erasure"); the call
   * resolves once step 2 is durable:
   * 1. one LMDB transaction marks the key reference erased, drops the sealed payload, lists
   *    the slot in `vault_dirty` and appends the audit record;
   * 2. the slot is overwritten with zeros in place and fdatasync'ed: the key is gone;
   * 3. a second transaction moves the slot from `vault_dirty` to `vault_free` for reuse.
   * A crash after 1 leaves the slot in `vault_dirty`, and opening wipes it again.
   */
  private async doSecureDelete(
    key: Uint8Array,
    roomId: bigint,
    logIndex: bigint,
    context: EraseContext,
  ): Promise<boolean> {
    const where = `room ${roomId} index ${logIndex}`;
    const t = this.t;
    let slot: number | undefined;
    try {
      slot = await this.write(() => {
        const ref = t.payload_keys.get(key);
        if (ref === undefined) return undefined;
        const { state, slot } = readKeyRef(ref, where);
        if (state !== STATE_LIVE) return undefined;
        const detail: Record<string, unknown> = { log_index: logIndex };
        if (context.reason !== undefined) detail.reason = context.reason;
        // The audit record first: it is the only part that encodes (and could fail).
        this.appendAuditInTxn({
          kind: "secure_delete",
          at: this.clock.now(),
          roomId,
          actor: context.actor ?? "hub",
          detail,
        });
        t.payload_keys.putSync(key, keyRef(STATE_ERASED, 0));
        t.payloads.removeSync(key);
        t.vault_dirty.putSync(u32(slot), ONE);
        return slot;
      });
    } catch (err) {
      this.reloadAuditHead();
      throw err;
    }
    if (slot === undefined) return false;
    this.vault.wipe(slot);
    await this.vault.sync();
    // Step 3 needs no wait: until it commits the slot is simply not reused, and if it never
    // becomes durable the slot is still in vault_dirty and opening finishes the job. LMDB
    // commits in order, so a later append that reuses the slot implies this commit.
    const recycle = this.env.root
      .transaction(() => {
        t.vault_dirty.removeSync(u32(slot));
        t.vault_free.putSync(u32(slot), ONE);
      })
      .then(
        () => this.slots.release(slot),
        () => undefined,
      );
    this.track(recycle);
    return true;
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

  /**
   * Inside a write transaction: chains the record after the current head. Encodes before
   * writing, so a record that cannot be encoded fails without a partial write.
   */
  private appendAuditInTxn(record: AuditRecord): void {
    const bytes = encodeAuditRecord(this.auditHead.hash, this.auditHead.count, record);
    const head = { count: this.auditHead.count + 1n, hash: hashRecord(bytes) };
    const key = u64Key(this.auditHead.count);
    const headBytes = encodeHead(head);
    this.t.audit.putSync(key, bytes);
    this.t.meta.putSync(META.auditHead, headBytes);
    this.auditHead = head;
  }

  appendAudit(record: AuditRecord): Promise<void> {
    return this.run(async () => {
      try {
        // Fail early and clearly on a record CBOR cannot carry (the real encoding happens
        // in the transaction, where the previous record's hash is known).
        encodeAuditRecord(EMPTY_HEAD.hash, 0n, record);
      } catch (err) {
        throw new StorageError("INVALID", `audit record cannot be encoded: ${String(err)}`);
      }
      try {
        await this.write(() => this.appendAuditInTxn(record));
      } catch (err) {
        this.reloadAuditHead();
        throw err;
      }
    });
  }

  private reloadAuditHead(): void {
    const bytes = this.t.meta.get(META.auditHead);
    this.auditHead = bytes === undefined ? EMPTY_HEAD : decodeHead(copyBytes(bytes));
  }

  readAudit(): AuditRecord[] {
    this.live();
    return readAuditRecords(this.t);
  }

  verifyAudit(): AuditVerification {
    this.live();
    const { records, head } = readAuditTable(this.t);
    return verifyAuditChain(records, head);
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
