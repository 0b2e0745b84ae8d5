/**
 * The hub side of attachments (issue 17, docs/protocol.md "Attachments"): one per shard,
 * answering BLOB_UPLOAD, BLOB_CHUNK and BLOB_FETCH for the rooms the shard owns — the
 * shard holds their membership, the frames that reference blobs, and the storage the
 * blobs live in, so every decision here is local (docs/architecture.md "Shards").
 *
 * It decides; the `BlobStore` keeps bytes. Limits: size per blob, quota per user and per
 * room (counted over this shard's storage: the blobs of every room the shard owns).
 * Collection (`sweep`): uploads idle past `uploadExpiryMs` are discarded, complete blobs
 * no live message references are erased once their grace period is over, or at once when
 * they were referenced before (their last reference erased while the hub was down). It
 * runs on a timer while anything may need it (an upload open, an unreferenced blob), so an
 * abandoned upload's disk space comes back without waiting for the next upload.
 */
import {
  BLOB_CHUNK_SIZE,
  bytesEqual,
  canary,
  chunkLength,
  decodePayload,
  errorFrame,
  Opcode,
  ProtocolError,
  responseFrame,
  type TimerHandle,
  type Timers,
  toHex,
} from "@kalandra/proto";
import { checkMember, type RoomFacts } from "../sequencer/rules.js";
import type { FrameSigner, ParsedFrame } from "../sequencer/wire.js";
import type { BlobStore } from "../storage/blobTypes.js";
import type { AttachmentLimits } from "../vocabulary/attachmentLimits.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Sink, Target } from "../vocabulary/target.js";
import { type Upload, Uploads } from "./uploads.js";

export interface BlobServiceEnv {
  /** Absent when the storage keeps no blobs (the in-memory test storage): INTERNAL. */
  store: BlobStore | undefined;
  clock: { now(): bigint };
  /** Runs the collection while there is something to collect; none: only on new uploads. */
  timers?: Timers;
  hubSigner: FrameSigner;
  sink: Sink;
  limits: AttachmentLimits;
}

export interface BlobRequest {
  frame: ParsedFrame;
  reply: Target;
  userId: string;
  deviceKey: Uint8Array;
}

type Answer = Refusal | { opcode: Opcode; payload: unknown };

export class BlobService {
  private readonly uploads = new Uploads();
  private lastSweep: bigint | undefined;
  private sweepTimer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly env: BlobServiceEnv) {}

  /** Answers one attachment request of a member of `room`; resolves once it is answered. */
  async handle(room: RoomFacts, request: BlobRequest): Promise<Outcome> {
    let answer: Answer;
    try {
      answer = await this.decide(room, request);
    } catch (e) {
      // A storage failure (a file gone, a chunk that does not open) fails this request
      // only: the room, the shard and other sessions go on (docs/storage.md "Errors").
      answer =
        e instanceof ProtocolError ? refuse(e.code, e.message) : refuse("INTERNAL", String(e));
    }
    const h = request.frame.header;
    if ("code" in answer) {
      this.env.sink(request.reply, errorFrame(h, answer));
      return { ok: false, refusal: answer };
    }
    const frame = responseFrame(this.env.hubSigner, h, answer.opcode, answer.payload, {
      logIndex: 0n,
      hlcTimestamp: 0n,
      epoch: room.epoch,
    });
    this.env.sink(request.reply, frame);
    return { ok: true };
  }

  private async decide(room: RoomFacts, r: BlobRequest): Promise<Answer> {
    const h = r.frame.header;
    // Outsiders learn nothing about blobs: membership before anything else.
    const outsider = checkMember(room, h.senderId, r.deviceKey);
    // canary: simulation-only planted bug (DESIGN §8), anyone may fetch a room's blobs.
    const unchecked = h.opcode === Opcode.BLOB_FETCH && canary("blob_read_unchecked");
    if (outsider !== undefined && !unchecked) return outsider;
    const store = this.env.store;
    if (store === undefined) return refuse("INTERNAL", "this hub's storage keeps no attachments");
    switch (h.opcode) {
      case Opcode.BLOB_UPLOAD: {
        const p = decodePayload(Opcode.BLOB_UPLOAD, r.frame.payload);
        return this.begin(store, room.roomId, r, p.blob_id, p.size);
      }
      case Opcode.BLOB_CHUNK: {
        const p = decodePayload(Opcode.BLOB_CHUNK, r.frame.payload);
        return this.chunk(store, room.roomId, r, p.blob_id, p.offset, p.data);
      }
      case Opcode.BLOB_FETCH: {
        const p = decodePayload(Opcode.BLOB_FETCH, r.frame.payload);
        return this.fetch(store, room.roomId, p.blob_id, p.offset);
      }
      default:
        return refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not a blob request`);
    }
  }

  private async begin(
    store: BlobStore,
    roomId: bigint,
    r: BlobRequest,
    blobId: Uint8Array,
    size: number,
  ): Promise<Answer> {
    const done = store.get(roomId, blobId);
    if (done !== undefined) {
      if (done.size !== size) return refuse("BAD_PAYLOAD", `the blob has ${done.size} bytes`);
      return state(blobId, size, size, true);
    }
    const up = this.uploads.get(roomId, blobId);
    if (up !== undefined) {
      const refused = ownedBy(up, r.frame.header.senderId, size);
      if (refused !== undefined) return refused;
      await up.busy;
      if (this.uploads.current(up)) return state(blobId, size, up.next, false);
      // It completed or failed meanwhile: answer as a new request would be.
      return this.begin(store, roomId, r, blobId, size);
    }
    await this.maybeSweep();
    const limits = this.env.limits;
    if (size === 0 || size > limits.maxBlobBytes) {
      return refuse("BLOB_TOO_LARGE", `a blob holds 1 to ${limits.maxBlobBytes} bytes`);
    }
    const held = store.usage(r.userId, roomId);
    const pending = this.uploads.pending(r.userId, roomId);
    if (held.user + pending.user + size > limits.userQuotaBytes) {
      return refuse(
        "QUOTA_EXCEEDED",
        `the user's attachments would pass ${limits.userQuotaBytes} bytes`,
      );
    }
    if (held.room + pending.room + size > limits.roomQuotaBytes) {
      return refuse(
        "QUOTA_EXCEEDED",
        `the room's attachments would pass ${limits.roomQuotaBytes} bytes`,
      );
    }
    this.uploads.start({
      roomId,
      blobId: blobId.slice(),
      senderId: r.frame.header.senderId,
      userId: r.userId,
      size,
      lastAt: this.env.clock.now(),
      writer: store.begin(roomId, blobId, size),
    });
    this.scheduleSweep();
    return state(blobId, size, 0, false);
  }

  private chunk(
    store: BlobStore,
    roomId: bigint,
    r: BlobRequest,
    blobId: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<Answer> {
    const up = this.uploads.get(roomId, blobId);
    if (up === undefined) {
      const done = store.get(roomId, blobId);
      if (done !== undefined) return Promise.resolve(state(blobId, done.size, done.size, true));
      return Promise.resolve(refuse("UPLOAD_EXPIRED", "no upload of this blob is in progress"));
    }
    const refused = ownedBy(up, r.frame.header.senderId, up.size);
    if (refused !== undefined) return Promise.resolve(refused);
    // Chunks of one upload are handled one after the other, in arrival order.
    const next = up.busy.then(() => this.write(up, offset, data));
    up.busy = next.catch(() => undefined);
    return next;
  }

  private async write(up: Upload, offset: number, data: Uint8Array): Promise<Answer> {
    if (!this.uploads.current(up)) {
      return refuse("UPLOAD_EXPIRED", "the upload ended before this chunk");
    }
    const expected = chunkLength(up.size, offset);
    if (offset % BLOB_CHUNK_SIZE === 0 && offset + expected <= up.next) {
      // A retransmission of a chunk already written (its answer was lost).
      return state(up.blobId, up.size, up.next, false);
    }
    if (offset !== up.next || data.length !== expected) {
      return refuse(
        "CHUNK_OUT_OF_ORDER",
        `expected ${chunkLength(up.size, up.next)} bytes at offset ${up.next}`,
      );
    }
    up.writer.write(offset / BLOB_CHUNK_SIZE, data);
    up.hash.update(data);
    up.next += data.length;
    up.lastAt = this.env.clock.now();
    if (up.next < up.size) return state(up.blobId, up.size, up.next, false);
    this.uploads.end(up);
    if (!bytesEqual(up.hash.digest(), up.blobId)) {
      up.writer.discard();
      return refuse("HASH_MISMATCH", "the bytes' BLAKE3-256 is not the blob id; nothing kept");
    }
    const durable = up.writer.commit({ userId: up.userId, completedAt: this.env.clock.now() });
    // canary: simulation-only planted bug (DESIGN §8), acknowledges before the blob is durable.
    if (canary("blob_ack_before_durable")) {
      durable.catch(() => up.writer.discard());
      return state(up.blobId, up.size, up.size, true);
    }
    try {
      await durable;
    } catch {
      up.writer.discard();
      return refuse("INTERNAL", "the blob could not be stored; upload it again");
    }
    return state(up.blobId, up.size, up.size, true);
  }

  private fetch(store: BlobStore, roomId: bigint, blobId: Uint8Array, offset: number): Answer {
    const blob = store.get(roomId, blobId);
    // Unreferenced, erased and never uploaded look alike to a member.
    if (blob === undefined || blob.refs === 0) {
      return refuse("BLOB_NOT_FOUND", "no such blob in this room");
    }
    if (offset % BLOB_CHUNK_SIZE !== 0 || offset >= blob.size) {
      return refuse(
        "BAD_PAYLOAD",
        `offset must be a multiple of ${BLOB_CHUNK_SIZE} below ${blob.size}`,
      );
    }
    const data = store.readChunk(roomId, blobId, offset / BLOB_CHUNK_SIZE);
    return {
      opcode: Opcode.BLOB_DATA,
      payload: { blob_id: blobId, size: blob.size, offset, data },
    };
  }

  /** How often collection runs: a tenth of the shorter period, so nothing waits much past it. */
  private sweepEveryMs(): number {
    const limits = this.env.limits;
    return Math.max(
      1,
      Math.floor(Math.min(limits.unreferencedGraceMs, limits.uploadExpiryMs) / 10),
    );
  }

  /** Runs `sweep` when the last one is older than `sweepEveryMs`. */
  private async maybeSweep(): Promise<void> {
    const now = this.env.clock.now();
    if (this.lastSweep !== undefined && now - this.lastSweep < BigInt(this.sweepEveryMs())) return;
    await this.sweep();
  }

  /**
   * Arms the collection timer unless it is armed; it re-arms itself while an upload is open
   * or a blob waits unreferenced, and stops when nothing is left (an idle hub has no timer).
   * Called when an upload begins (its blob, once complete, stays collectable until a message
   * references it) and when the shard opens (blobs a crash left unreferenced).
   */
  scheduleSweep(): void {
    const timers = this.env.timers;
    if (timers === undefined || this.closed || this.sweepTimer !== undefined) return;
    this.sweepTimer = timers.set(this.sweepEveryMs(), () => {
      this.sweepTimer = undefined;
      void this.maybeSweep()
        .catch(() => undefined)
        .then(() => {
          if (this.collectable()) this.scheduleSweep();
        });
    });
  }

  /** At open: collection resumes if a crash left blobs unreferenced; an empty store arms nothing. */
  resumeSweep(): void {
    if (this.collectable()) this.scheduleSweep();
  }

  /** Whether a later sweep may remove something: an open upload or an unreferenced blob. */
  private collectable(): boolean {
    if (this.uploads.all().length > 0) return true;
    return this.env.store?.list().some((b) => b.refs === 0) ?? false;
  }

  /**
   * Discards idle uploads and erases the blobs nobody may read any more. Returns how many
   * uploads and blobs it removed.
   */
  async sweep(): Promise<{ uploads: number; blobs: number }> {
    const now = this.env.clock.now();
    this.lastSweep = now;
    const limits = this.env.limits;
    let uploads = 0;
    for (const up of this.uploads.idleSince(now - BigInt(limits.uploadExpiryMs))) {
      this.uploads.end(up);
      up.writer.discard();
      uploads++;
    }
    const store = this.env.store;
    if (store === undefined) return { uploads, blobs: 0 };
    let blobs = 0;
    const cutoff = now - BigInt(limits.unreferencedGraceMs);
    for (const b of store.list()) {
      if (b.refs > 0) continue;
      if (!b.referenced && b.completedAt > cutoff) continue;
      const reason = b.referenced ? "last reference erased" : "never referenced";
      if (await store.erase(b.roomId, b.blobId, { actor: "hub", reason })) blobs++;
    }
    return { uploads, blobs };
  }

  /** A deleted room: its uploads end and every blob of it is erased (docs/storage.md). */
  async eraseRoom(roomId: bigint, actor: string): Promise<number> {
    for (const up of this.uploads.all()) {
      if (up.roomId !== roomId) continue;
      this.uploads.end(up);
      up.writer.discard();
    }
    const store = this.env.store;
    if (store === undefined) return 0;
    let n = 0;
    for (const b of store.list()) {
      if (b.roomId !== roomId) continue;
      if (await store.erase(roomId, b.blobId, { actor, reason: "room deleted" })) n++;
    }
    return n;
  }

  /** Stops: every upload in progress is discarded (a restart forgets them anyway). */
  close(): void {
    this.closed = true;
    if (this.sweepTimer !== undefined) this.env.timers?.clear(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const up of this.uploads.all()) {
      this.uploads.end(up);
      up.writer.discard();
    }
  }

  /** For tests and metrics: uploads in progress. */
  get uploadsInProgress(): number {
    return this.uploads.all().length;
  }
}

function state(blobId: Uint8Array, size: number, offset: number, complete: boolean): Answer {
  return { opcode: Opcode.BLOB_UPLOAD_STATE, payload: { blob_id: blobId, size, offset, complete } };
}

function ownedBy(up: Upload, senderId: bigint, size: number): Refusal | undefined {
  if (up.senderId !== senderId) {
    return refuse("FORBIDDEN", `blob ${toHex(up.blobId)} is being uploaded by another device`);
  }
  if (up.size !== size) return refuse("BAD_PAYLOAD", `the upload in progress has ${up.size} bytes`);
  return undefined;
}
