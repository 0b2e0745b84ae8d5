/**
 * The production `Storage` (DESIGN §5, docs/storage.md): LMDB for everything except payload
 * keys, which live in the fixed-slot key vault so that erasing one overwrites its bytes.
 * This module opens and closes one store and routes each `Storage` call to the module that
 * does that job: appender.ts (the append path and its group commit), reads.ts (frames, rooms,
 * user index), keyPackages.ts, erasure.ts, auditLog.ts; lifecycle.ts tracks open/closed and
 * the writes in flight.
 */
import { join, resolve } from "node:path";
import { type Clock, type Rng, systemClock, systemRng } from "@kalandra/proto";
import { encodeAuditRecord, GENESIS_HASH } from "../../audit/chain.js";
import { asStorageError, StorageError } from "../errors.js";
import { copyBytes, frameKey, requestKey, roomKey } from "../keys.js";
import { moderationAnswerKey } from "../moderationAnswerBounds.js";
import { readKeyRef, readU32, STATE_LIVE } from "../slotRef.js";
import type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  BindResult,
  RoomMeta,
  RoomUsage,
  Storage,
  StoredDevice,
  StoredEnrollmentCode,
  StoredFrame,
  StoredKeyPackage,
  StoredWelcome,
} from "../types.js";
import { FrameAppender } from "./appender.js";
import { AuditLog } from "./auditLog.js";
import { blobKey, LmdbBlobStore } from "./blobs.js";
import type { EraseContext } from "./erasure.js";
import { eraseFrame } from "./erasure.js";
import * as identity from "./identity.js";
import { claimPackages, countPackages, putPackages } from "./keyPackages.js";
import { type Env, META, openEnv, type Tables, VAULT_FILE } from "./layout.js";
import { Lifecycle } from "./lifecycle.js";
import * as moderationAnswers from "./moderationAnswers.js";
import { encodeRoomMeta, listRoomIds, readFrames, readRoomMeta, readUserIndex } from "./reads.js";
import { CLEAN, recoverVault } from "./recovery.js";
import {
  DROP_CHUNK,
  dropLogChunk,
  livePayloadIndexes,
  retireRoomInTxn,
  roomUsage,
  userIndexRowsOf,
} from "./roomRows.js";
import { KeyVault, type SlotAllocator } from "./vault.js";
import { expireWelcomes, putWelcome, removeWelcome, welcomesOf } from "./welcomes.js";

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
  /** The attachment blobs: files under `<path>/blobs/`, keys in the vault (blobs.ts). */
  readonly blobs: LmdbBlobStore;
  /** FORENSIC TESTS ONLY: a copy of a live blob's key (like `inspectPayloadKey`). */
  inspectBlobKey(roomId: bigint, blobId: Uint8Array): Uint8Array | undefined;
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
  private readonly t: Tables;
  private readonly life: Lifecycle;
  private readonly appender: FrameAppender;
  private readonly erasing = new Map<string, Promise<boolean>>();
  private readonly clock: Clock;
  private readonly noSync: boolean;

  private readonly audit: AuditLog;
  readonly path: string;
  readonly blobs: LmdbBlobStore;

  constructor(
    private readonly env: Env,
    private readonly vault: KeyVault,
    private readonly slots: SlotAllocator,
    opts: LmdbStorageOptions,
  ) {
    this.t = env.tables;
    this.audit = new AuditLog(env.tables);
    this.path = opts.path;
    this.clock = opts.clock ?? systemClock;
    this.noSync = opts.noSync === true;
    this.life = new Lifecycle(env, this.noSync);
    this.appender = new FrameAppender(env, vault, slots, opts.rng ?? systemRng, this.noSync);
    this.blobs = new LmdbBlobStore({
      dir: opts.path,
      t: this.t,
      vault,
      slots,
      rng: opts.rng ?? systemRng,
      clock: this.clock,
      audit: this.audit,
      life: this.life,
      noSync: this.noSync,
    });
  }

  append(entries: readonly AppendEntry[]): Promise<void> {
    return this.life.run(() => this.appender.append(entries));
  }

  readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[] {
    this.life.live();
    return readFrames(this.t, this.vault, roomId, from, limit);
  }

  nextIndex(roomId: bigint): bigint {
    this.life.live();
    return this.appender.nextIndex(roomId);
  }

  getResponse(senderId: bigint, requestId: number): Uint8Array | undefined {
    this.life.live();
    const v = this.t.requests.get(requestKey(senderId, requestId));
    return v === undefined ? undefined : copyBytes(v);
  }

  putResponse(senderId: bigint, requestId: number, response: Uint8Array): Promise<void> {
    return this.life.run(() => {
      const key = requestKey(senderId, requestId);
      const value = copyBytes(response);
      return this.life.write(() => this.t.requests.putSync(key, value));
    });
  }

  getModerationAnswer(senderId: bigint, requestId: number): Uint8Array | undefined {
    this.life.live();
    return moderationAnswers.getModerationAnswer(this.t, requestKey(senderId, requestId));
  }

  putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number> {
    return this.life.run(() => {
      const key = moderationAnswerKey(senderId, requestId, answer, maxAnswers);
      const value = copyBytes(answer);
      return this.life.write(() =>
        moderationAnswers.putModerationAnswer(this.t, key, value, maxAnswers),
      );
    });
  }

  putRoom(meta: RoomMeta, roomState: Uint8Array): Promise<void> {
    return this.life.run(() => {
      const key = roomKey(meta.roomId);
      const value = encodeRoomMeta(meta);
      const state = copyBytes(roomState);
      return this.life.write(() => {
        this.t.rooms.putSync(key, value);
        this.t.mls_state.putSync(key, state);
      });
    });
  }

  getRoom(roomId: bigint): RoomMeta | undefined {
    this.life.live();
    return readRoomMeta(this.t, roomId);
  }

  listRooms(): bigint[] {
    this.life.live();
    return listRoomIds(this.t);
  }

  getRoomState(roomId: bigint): Uint8Array | undefined {
    this.life.live();
    const v = this.t.mls_state.get(roomKey(roomId));
    return v === undefined ? undefined : copyBytes(v);
  }

  putRoomState(roomId: bigint, roomState: Uint8Array): Promise<void> {
    return this.life.run(() => {
      const key = roomKey(roomId);
      const value = copyBytes(roomState);
      return this.life.write(() => this.t.mls_state.putSync(key, value));
    });
  }

  userIndex(userId: string): { roomId: bigint; logIndex: bigint }[] {
    this.life.live();
    return readUserIndex(this.t, userId);
  }

  roomUsage(roomId: bigint): RoomUsage {
    this.life.live();
    return roomUsage(this.t, roomId);
  }

  livePayloads(roomId: bigint, from: bigint, limit: number): bigint[] {
    this.life.live();
    return livePayloadIndexes(this.t, roomId, from, limit);
  }

  retireRoom(meta: RoomMeta): Promise<void> {
    return this.life.run(() => this.life.write(() => retireRoomInTxn(this.t, meta)));
  }

  dropRoomLog(roomId: bigint): Promise<number> {
    return this.life.run(async () => {
      let dropped = 0;
      for (;;) {
        const n = await this.life.write(() => dropLogChunk(this.t, roomId));
        dropped += n;
        if (n < DROP_CHUNK) break;
      }
      const rows = userIndexRowsOf(this.t, roomId);
      await this.life.write(() => {
        for (const key of rows) this.t.user_index.removeSync(key);
      });
      // The cached head would outlive the rows (a replica rebuilds the log from 0).
      this.appender.forget(roomId);
      return dropped;
    });
  }

  secureDelete(roomId: bigint, logIndex: bigint, context?: EraseContext): Promise<boolean> {
    let key: Uint8Array;
    try {
      this.life.live();
      key = frameKey(roomId, logIndex);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = Buffer.from(key).toString("hex");
    const running = this.erasing.get(id);
    if (running !== undefined) return running.then(() => false);
    const p = this.life.track(
      eraseFrame(
        {
          env: this.env,
          vault: this.vault,
          slots: this.slots,
          audit: this.audit,
          clock: this.clock,
          durable: (fn) => this.life.write(fn),
          background: (q) => this.life.track(q),
          eraseBlob: (blob, ctx) => this.blobs.eraseKey(blob, ctx),
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
    return this.life.run(() => {
      const copies = packages.map((p) => ({
        ...p,
        ref: copyBytes(p.ref),
        data: copyBytes(p.data),
      }));
      return this.life.write(() => putPackages(this.t, copies));
    });
  }

  claimKeyPackages(userId: string, nowSeconds: bigint): Promise<StoredKeyPackage[]> {
    return this.life.run(() => this.life.write(() => claimPackages(this.t, userId, nowSeconds)));
  }

  countKeyPackages(senderId: bigint, nowSeconds: bigint): number {
    this.life.live();
    return countPackages(this.t, senderId, nowSeconds);
  }

  putUser(userId: string, createdAt: bigint): Promise<void> {
    return this.life.run(() => this.life.write(() => identity.putUser(this.t, userId, createdAt)));
  }

  listUsers(): { userId: string; createdAt: bigint }[] {
    this.life.live();
    return identity.listUsers(this.t);
  }

  getDevice(senderId: bigint): StoredDevice | undefined {
    this.life.live();
    return identity.getDevice(this.t, senderId);
  }

  devicesOf(userId: string): StoredDevice[] {
    this.life.live();
    return identity.devicesOf(this.t, userId);
  }

  bindDevice(device: StoredDevice, maxActive: number): Promise<BindResult> {
    const copy = { ...device, deviceKey: copyBytes(device.deviceKey) };
    return this.life.run(() => this.life.write(() => identity.bindDevice(this.t, copy, maxActive)));
  }

  revokeDevice(senderId: bigint, at: bigint): Promise<StoredDevice | undefined> {
    return this.life.run(() => this.life.write(() => identity.revokeDevice(this.t, senderId, at)));
  }

  putEnrollmentCode(code: StoredEnrollmentCode): Promise<void> {
    return this.life.run(() => this.life.write(() => identity.putEnrollmentCode(this.t, code)));
  }

  takeEnrollmentCode(codeHash: Uint8Array, now: bigint): Promise<StoredEnrollmentCode | undefined> {
    const hash = copyBytes(codeHash);
    return this.life.run(() =>
      this.life.write(() => identity.takeEnrollmentCode(this.t, hash, now)),
    );
  }

  useNonce(nonce: Uint8Array, expiresAt: bigint, now: bigint): Promise<boolean> {
    const n = copyBytes(nonce);
    return this.life.run(() => this.life.write(() => identity.useNonce(this.t, n, expiresAt, now)));
  }

  putWelcome(w: StoredWelcome, maxPerDevice: number): Promise<number> {
    return this.life.run(() => {
      const copy = { ...w, frame: copyBytes(w.frame) };
      return this.life.write(() => putWelcome(this.t, copy, maxPerDevice));
    });
  }

  welcomesFor(senderId: bigint, nowSeconds: bigint): StoredWelcome[] {
    this.life.live();
    return welcomesOf(this.t, senderId, nowSeconds);
  }

  removeWelcome(senderId: bigint, roomId: bigint, logIndex: bigint): Promise<boolean> {
    return this.life.run(() =>
      this.life.write(() => removeWelcome(this.t, senderId, roomId, logIndex)),
    );
  }

  expireWelcomes(nowSeconds: bigint, limit: number): Promise<number> {
    return this.life.run(() => this.life.write(() => expireWelcomes(this.t, nowSeconds, limit)));
  }

  appendAudit(record: AuditRecord): Promise<void> {
    return this.life.run(async () => {
      try {
        // Fail early and clearly on a record CBOR cannot carry (the real encoding happens
        // in the transaction, where the previous record's hash is known).
        encodeAuditRecord(GENESIS_HASH, 0n, record);
      } catch (err) {
        throw new StorageError("INVALID", `audit record cannot be encoded: ${String(err)}`);
      }
      try {
        await this.life.write(() => this.audit.appendInTxn(record));
      } catch (err) {
        this.audit.reload();
        throw err;
      }
    });
  }

  readAudit(): AuditRecord[] {
    this.life.live();
    return this.audit.read();
  }

  verifyAudit(): AuditVerification {
    this.life.live();
    return this.audit.verify();
  }

  inspectPayloadKey(roomId: bigint, logIndex: bigint): Uint8Array | undefined {
    this.life.live();
    const ref = this.t.payload_keys.get(frameKey(roomId, logIndex));
    if (ref === undefined) return undefined;
    const { state, slot } = readKeyRef(ref, `room ${roomId} index ${logIndex}`);
    return state === STATE_LIVE ? this.vault.read(slot) : undefined;
  }

  inspectBlobKey(roomId: bigint, blobId: Uint8Array): Uint8Array | undefined {
    this.life.live();
    const row = this.t.cas.get(blobKey(roomId, blobId));
    return row === undefined ? undefined : this.vault.read(readU32(row));
  }

  vaultStats(): { highWaterMark: number; free: number } {
    return { highWaterMark: this.slots.highWaterMark, free: this.slots.freeCount };
  }

  idle(): Promise<void> {
    return this.life.idle();
  }

  async close(): Promise<void> {
    if (!this.life.markClosed()) return;
    await this.life.idle();
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
