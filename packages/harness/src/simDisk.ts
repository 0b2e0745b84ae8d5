/**
 * The hub's disk in the simulation: a `Storage` decorator over the real LMDB storage
 * (DESIGN §2: the simulation runs the same LMDB code in a temp directory) that models when
 * writes become durable. A write is buffered and resolves only at a scheduled "fsync"
 * event a few virtual ms later (drawn from the seed), where it is applied to LMDB; a crash
 * before that event loses it the way a real power loss loses an un-synced write, except
 * that the disk may have written a seeded prefix of the buffer before the power went.
 *
 * Determinism: the real LMDB work runs inside the fsync event and is awaited there, so the
 * thread it completes on never decides the order of anything else.
 *
 * Reads: `readRange` also sees the appended frames still waiting for their fsync, because
 * LMDB does: `LmdbStorage.append` commits its transaction (readers see it at once) and
 * only then waits for the flush, so a reader can get a frame that a power loss will still
 * take away (issue 11, "sync serves frames that are not yet durable"). `nextIndex` counts
 * durable frames only, as `LmdbStorage.nextIndex` does. Every other read sees durable state
 * (the sequencer reads idempotency records of in-flight requests from memory first).
 *
 * Blobs (issue 17): the blob store's own durable steps — completing an upload (file, key
 * and row synced) and erasing a blob — are writes like the others: they run at the next
 * fsync event and a power loss before it loses them (an upload then is never acknowledged,
 * and its half-written file is unreadable without the key only the lost writer held).
 * Chunk writes and every read go straight to the LMDB blob store.
 */
import type {
  AppendEntry,
  AuditRecord,
  AuditVerification,
  BindResult,
  EraseContext,
  LmdbStorage,
  RoomMeta,
  RoomUsage,
  Storage,
  StoredDevice,
  StoredEnrollmentCode,
  StoredFrame,
  StoredKeyPackage,
  StoredWelcome,
} from "@kalandra/server";
import type { SeededRng } from "./rng.js";
import type { Scheduler } from "./scheduler.js";

interface Op {
  what: string;
  run: () => Promise<unknown>;
  /** The frames an append carries, readable before they are durable. */
  frames?: readonly AppendEntry[];
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
}

export interface SimDiskOptions {
  scheduler: Scheduler;
  /** Node the fsync events belong to (they die with it). */
  node: string;
  rng: SeededRng;
  /** Virtual ms from the first buffered write to its fsync: min + int(spread + 1). */
  fsyncMinMs?: number;
  fsyncSpreadMs?: number;
  /** Sees every append when it is buffered (scenarios arm crashes "mid-commit" with it). */
  onAppend?: (entries: readonly AppendEntry[]) => void;
}

type BlobStore = NonNullable<Storage["blobs"]>;
type BlobWriter = ReturnType<BlobStore["begin"]>;

export class DiskCrashedError extends Error {
  override readonly name = "DiskCrashedError";
}

export class SimDisk implements Storage {
  #queue: Op[] = [];
  #scheduled = false;
  #dead = false;
  /** Number of fsync events run, and writes they made durable. */
  fsyncs = 0;
  writes = 0;

  /** The LMDB blob store with its durable steps scheduled as this disk's writes. */
  readonly blobs: BlobStore;

  constructor(
    readonly inner: LmdbStorage,
    private readonly o: SimDiskOptions,
  ) {
    const store = inner.blobs;
    const enqueue = <T>(what: string, run: () => Promise<T>) => this.#enqueue(what, run);
    this.blobs = {
      begin(roomId, blobId, size): BlobWriter {
        const w = store.begin(roomId, blobId, size);
        return {
          write: (index, data) => w.write(index, data),
          commit: (meta) => enqueue("blob", () => w.commit(meta)),
          discard: () => w.discard(),
        };
      },
      get: (roomId, blobId) => store.get(roomId, blobId),
      usage: (userId, roomId) => store.usage(userId, roomId),
      list: () => store.list(),
      readChunk: (roomId, blobId, index) => store.readChunk(roomId, blobId, index),
      erase: (roomId, blobId, context) =>
        enqueue("blobErase", () => store.erase(roomId, blobId.slice(), context)),
    };
  }

  get buffered(): number {
    return this.#queue.length;
  }

  #enqueue<T>(what: string, run: () => Promise<T>, frames?: readonly AppendEntry[]): Promise<T> {
    if (this.#dead) return Promise.reject(new DiskCrashedError("disk of a crashed hub"));
    return new Promise<T>((resolve, reject) => {
      const op: Op = { what, run, resolve: resolve as (v: never) => void, reject };
      if (frames !== undefined) op.frames = frames;
      this.#queue.push(op);
      if (!this.#scheduled) {
        this.#scheduled = true;
        const delay = (this.o.fsyncMinMs ?? 1) + this.o.rng.int((this.o.fsyncSpreadMs ?? 4) + 1);
        this.o.scheduler.schedule(delay, this.o.node, "fsync", () => this.#fsync());
      }
    });
  }

  async #fsync(): Promise<void> {
    this.#scheduled = false;
    if (this.#dead) return;
    const batch = this.#queue.splice(0);
    const results: { ok: boolean; v: unknown }[] = [];
    for (const op of batch) {
      try {
        results.push({ ok: true, v: await op.run() });
      } catch (e) {
        results.push({ ok: false, v: e });
      }
    }
    await this.inner.idle();
    this.fsyncs++;
    this.writes += batch.length;
    this.o.scheduler.trace.record(`fsync ${batch.map((o) => o.what).join(",")}`);
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (r.ok) op.resolve(r.v as never);
      else op.reject(r.v);
    });
  }

  /**
   * Power loss: the first `written` buffered writes reached the disk (they are applied,
   * nobody hears about it), the rest are lost; the disk accepts nothing more.
   */
  async crash(written: number): Promise<void> {
    this.#dead = true;
    const batch = this.#queue.splice(0);
    for (const op of batch.slice(0, written)) {
      try {
        await op.run();
      } catch {
        // A write that failed before the crash is as good as lost.
      }
    }
    await this.inner.idle();
    this.o.scheduler.trace.record(
      `disk crash wrote ${Math.min(written, batch.length)}/${batch.length}`,
    );
  }

  // ---- writes: buffered until the next fsync ------------------------------------------

  append(entries: readonly AppendEntry[]): Promise<void> {
    // The caller may reuse its buffers once append returns (types.ts "Ownership").
    const copy = entries.map((e) => ({
      ...e,
      header: e.header.slice(),
      payload: e.payload.slice(),
      response: e.response.slice(),
      ...(e.roomState === undefined ? {} : { roomState: e.roomState.slice() }),
      ...(e.blobRefs === undefined ? {} : { blobRefs: e.blobRefs.map((b) => b.slice()) }),
    }));
    const p = this.#enqueue(`append${copy.length}`, () => this.inner.append(copy), copy);
    this.o.onAppend?.(copy);
    return p;
  }
  putModerationAnswer(
    senderId: bigint,
    requestId: number,
    answer: Uint8Array,
    maxAnswers: number,
  ): Promise<number> {
    const a = answer.slice();
    return this.#enqueue("modAnswer", () =>
      this.inner.putModerationAnswer(senderId, requestId, a, maxAnswers),
    );
  }
  putResponse(senderId: bigint, requestId: number, response: Uint8Array): Promise<void> {
    const r = response.slice();
    return this.#enqueue("response", () => this.inner.putResponse(senderId, requestId, r));
  }
  putRoom(meta: RoomMeta, roomState: Uint8Array): Promise<void> {
    const s = roomState.slice();
    return this.#enqueue("room", () => this.inner.putRoom(meta, s));
  }
  putRoomState(roomId: bigint, roomState: Uint8Array): Promise<void> {
    const s = roomState.slice();
    return this.#enqueue("roomState", () => this.inner.putRoomState(roomId, s));
  }
  secureDelete(roomId: bigint, logIndex: bigint, context?: EraseContext): Promise<boolean> {
    return this.#enqueue("erase", () => this.inner.secureDelete(roomId, logIndex, context));
  }
  roomUsage(roomId: bigint): RoomUsage {
    return this.inner.roomUsage(roomId);
  }
  livePayloads(roomId: bigint, from: bigint, limit: number): bigint[] {
    return this.inner.livePayloads(roomId, from, limit);
  }
  retireRoom(meta: RoomMeta): Promise<void> {
    const copy = { ...meta, settings: { ...meta.settings } };
    return this.#enqueue("retire", () => this.inner.retireRoom(copy));
  }
  dropRoomLog(roomId: bigint): Promise<number> {
    return this.#enqueue("droplog", () => this.inner.dropRoomLog(roomId));
  }
  putKeyPackages(packages: readonly StoredKeyPackage[]): Promise<void> {
    const copy = packages.map((p) => ({ ...p, ref: p.ref.slice(), data: p.data.slice() }));
    return this.#enqueue("kp", () => this.inner.putKeyPackages(copy));
  }
  claimKeyPackages(userId: string, nowSeconds: bigint): Promise<StoredKeyPackage[]> {
    return this.#enqueue("claim", () => this.inner.claimKeyPackages(userId, nowSeconds));
  }
  appendAudit(record: AuditRecord): Promise<void> {
    return this.#enqueue("audit", () => this.inner.appendAudit(record));
  }
  putUser(userId: string, createdAt: bigint): Promise<void> {
    return this.#enqueue("user", () => this.inner.putUser(userId, createdAt));
  }
  bindDevice(device: StoredDevice, maxActive: number): Promise<BindResult> {
    const d = { ...device, deviceKey: device.deviceKey.slice() };
    return this.#enqueue("device", () => this.inner.bindDevice(d, maxActive));
  }
  revokeDevice(senderId: bigint, at: bigint): Promise<StoredDevice | undefined> {
    return this.#enqueue("revoke", () => this.inner.revokeDevice(senderId, at));
  }
  putEnrollmentCode(code: StoredEnrollmentCode): Promise<void> {
    const c = { ...code, codeHash: code.codeHash.slice() };
    return this.#enqueue("code", () => this.inner.putEnrollmentCode(c));
  }
  takeEnrollmentCode(codeHash: Uint8Array, now: bigint): Promise<StoredEnrollmentCode | undefined> {
    const h = codeHash.slice();
    return this.#enqueue("takeCode", () => this.inner.takeEnrollmentCode(h, now));
  }
  useNonce(nonce: Uint8Array, expiresAt: bigint, now: bigint): Promise<boolean> {
    const n = nonce.slice();
    return this.#enqueue("nonce", () => this.inner.useNonce(n, expiresAt, now));
  }
  putWelcome(welcome: StoredWelcome, maxPerDevice: number): Promise<number> {
    const w = { ...welcome, frame: welcome.frame.slice() };
    return this.#enqueue("welcome", () => this.inner.putWelcome(w, maxPerDevice));
  }
  removeWelcome(senderId: bigint, roomId: bigint, logIndex: bigint): Promise<boolean> {
    return this.#enqueue("welcomeAck", () => this.inner.removeWelcome(senderId, roomId, logIndex));
  }
  expireWelcomes(nowSeconds: bigint, limit: number): Promise<number> {
    return this.#enqueue("welcomeExpiry", () => this.inner.expireWelcomes(nowSeconds, limit));
  }

  // ---- reads: durable state --------------------------------------------------------------

  readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[] {
    const durable = this.inner.readRange(roomId, from, limit);
    if (durable.length >= limit) return durable;
    // Committed but not yet synced: what LMDB's readers see until the fsync (above).
    const next = durable.length > 0 ? durable[durable.length - 1]!.logIndex + 1n : from;
    for (const op of this.#queue) {
      for (const e of op.frames ?? []) {
        if (e.roomId !== roomId || e.logIndex < next || durable.length >= limit) continue;
        durable.push({
          roomId,
          logIndex: e.logIndex,
          header: e.header.slice(),
          payload: e.payload.slice(),
        });
      }
    }
    return durable;
  }
  nextIndex(roomId: bigint): bigint {
    return this.inner.nextIndex(roomId);
  }
  getModerationAnswer(senderId: bigint, requestId: number): Uint8Array | undefined {
    return this.inner.getModerationAnswer(senderId, requestId);
  }
  getResponse(senderId: bigint, requestId: number): Uint8Array | undefined {
    return this.inner.getResponse(senderId, requestId);
  }
  getRoom(roomId: bigint): RoomMeta | undefined {
    return this.inner.getRoom(roomId);
  }
  listRooms(): bigint[] {
    return this.inner.listRooms();
  }
  getRoomState(roomId: bigint): Uint8Array | undefined {
    return this.inner.getRoomState(roomId);
  }
  userIndex(userId: string): { roomId: bigint; logIndex: bigint }[] {
    return this.inner.userIndex(userId);
  }
  countKeyPackages(senderId: bigint, nowSeconds: bigint): number {
    return this.inner.countKeyPackages(senderId, nowSeconds);
  }
  listUsers(): { userId: string; createdAt: bigint }[] {
    return this.inner.listUsers();
  }
  getDevice(senderId: bigint): StoredDevice | undefined {
    return this.inner.getDevice(senderId);
  }
  devicesOf(userId: string): StoredDevice[] {
    return this.inner.devicesOf(userId);
  }
  welcomesFor(senderId: bigint, nowSeconds: bigint): StoredWelcome[] {
    return this.inner.welcomesFor(senderId, nowSeconds);
  }
  readAudit(): AuditRecord[] {
    return this.inner.readAudit();
  }
  verifyAudit(): AuditVerification {
    return this.inner.verifyAudit();
  }

  /** Closes the LMDB handle (after a crash, so the directory can be reopened). */
  async close(): Promise<void> {
    this.#dead = true;
    await this.inner.close();
  }
}
