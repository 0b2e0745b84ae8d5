/**
 * Attachment blobs on disk (issue 17, docs/storage.md "Blobs"): one file per blob under
 * `<data>/blobs/<room hex>/<blob hex>`, out of the LMDB map, each chunk sealed with
 * ChaCha20-Poly1305 under the blob's own key. The key lives in the key vault like a
 * payload key, so erasing a blob is erasing one 32-byte slot (erasure.ts's argument holds
 * unchanged); the file's bytes are useless without it and are removed afterwards.
 *
 * Tables: `cas` (room ‖ blob_id) → slot u32 ‖ size u64 ‖ completed_at u64 ‖ referenced u8 ‖
 * user UTF-8; `blob_refs` (room ‖ blob_id ‖ log_index) → 0x00, one row per referencing
 * frame (the refcount is the row count); `msg_blobs` (room ‖ log_index) → the blob ids the
 * frame references, so erasing the frame finds its references without opening it.
 *
 * Chunk i of a blob is at file offset i · (BLOB_CHUNK_SIZE + 16); nonce = 0⁸ ‖ u32 i (a key
 * seals the chunks of one blob, each at its own nonce); AD = room ‖ blob_id ‖ u32 i, so a
 * chunk moved within or between files does not open.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { BLOB_CHUNK_SIZE, type Clock, type Rng, toHex } from "@kalandra/proto";
import type { BlobStore, BlobWriter, StoredBlob } from "../blobTypes.js";
import { asStorageError, StorageError } from "../errors.js";
import { copyBytes, frameKey, prefixEnd, readRoomKey, roomKey } from "../keys.js";
import { KEY_BYTES, openAead, sealAead } from "../seal.js";
import { ONE, readU32, u32 } from "../slotRef.js";
import type { EraseContext } from "../types.js";
import type { AuditLog } from "./auditLog.js";
import { META, type Tables } from "./layout.js";
import type { Lifecycle } from "./lifecycle.js";
import type { KeyVault, SlotAllocator } from "./vault.js";

export const BLOBS_DIR = "blobs";
const TAG_BYTES = 16;
const SEALED_CHUNK = BLOB_CHUNK_SIZE + TAG_BYTES;
const ID_BYTES = 32;

/** room (16) ‖ blob_id (32): the key of `cas`. */
export function blobKey(roomId: bigint, blobId: Uint8Array): Uint8Array {
  if (blobId.length !== ID_BYTES) throw new StorageError("INVALID", '"blobId" expected 32 bytes');
  const out = new Uint8Array(16 + ID_BYTES);
  out.set(roomKey(roomId), 0);
  out.set(blobId, 16);
  return out;
}

function refKey(blob: Uint8Array, logIndex: Uint8Array): Uint8Array {
  const out = new Uint8Array(blob.length + 8);
  out.set(blob, 0);
  out.set(logIndex, blob.length);
  return out;
}

interface Row {
  slot: number;
  size: number;
  completedAt: bigint;
  referenced: boolean;
  userId: string;
}

function encodeRow(r: Row): Uint8Array {
  const user = new TextEncoder().encode(r.userId);
  const out = new Uint8Array(21 + user.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, r.slot, false);
  v.setBigUint64(4, BigInt(r.size), false);
  v.setBigUint64(12, r.completedAt, false);
  out[20] = r.referenced ? 1 : 0;
  out.set(user, 21);
  return out;
}

function decodeRow(b: Uint8Array): Row {
  if (b.length < 21) throw new StorageError("CORRUPT", "blob row too short");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    slot: v.getUint32(0, false),
    size: Number(v.getBigUint64(4, false)),
    completedAt: v.getBigUint64(12, false),
    referenced: b[20] === 1,
    userId: new TextDecoder().decode(b.subarray(21)),
  };
}

function countRefs(t: Tables, key: Uint8Array): number {
  let n = 0;
  for (const _ of t.blob_refs.getKeys({ start: key, end: prefixEnd(key, 8) })) n++;
  return n;
}

/**
 * Inside the append transaction: the references of one frame (`AppendEntry.blobRefs`).
 * Marks each blob as referenced, so a blob whose last reference goes is erased at once
 * rather than after the grace period.
 */
export function putBlobRefsInTxn(
  t: Tables,
  roomId: bigint,
  logIndex: bigint,
  blobIds: readonly Uint8Array[],
): void {
  const frame = frameKey(roomId, logIndex);
  const index = frame.subarray(16);
  const all = new Uint8Array(blobIds.length * ID_BYTES);
  blobIds.forEach((id, i) => {
    const key = blobKey(roomId, id);
    all.set(id, i * ID_BYTES);
    t.blob_refs.putSync(refKey(key, index), ONE);
    const row = t.cas.get(key);
    if (row !== undefined && row[20] !== 1) {
      const marked = copyBytes(row);
      marked[20] = 1;
      t.cas.putSync(key, marked);
    }
  });
  t.msg_blobs.putSync(frame, all);
}

/**
 * Inside the erasure transaction of a frame: drops its references and returns the blob
 * keys that no live frame references any more (the caller erases those blobs).
 */
export function dropBlobRefsInTxn(t: Tables, frame: Uint8Array): Uint8Array[] {
  const ids = t.msg_blobs.get(frame);
  if (ids === undefined) return [];
  const room = frame.subarray(0, 16);
  const index = frame.subarray(16);
  const orphans: Uint8Array[] = [];
  for (let i = 0; i + ID_BYTES <= ids.length; i += ID_BYTES) {
    const key = new Uint8Array(16 + ID_BYTES);
    key.set(room, 0);
    key.set(ids.subarray(i, i + ID_BYTES), 16);
    t.blob_refs.removeSync(refKey(key, index));
    // The removal above is visible to reads in this transaction.
    if (countRefs(t, key) === 0) orphans.push(key);
  }
  t.msg_blobs.removeSync(frame);
  return orphans;
}

export interface BlobStoreDeps {
  dir: string;
  t: Tables;
  vault: KeyVault;
  slots: SlotAllocator;
  rng: Rng;
  clock: Clock;
  audit: AuditLog;
  life: Lifecycle;
  noSync: boolean;
}

function syncFd(fd: number, noSync: boolean): Promise<void> {
  if (noSync) return Promise.resolve();
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err ? reject(asStorageError(err, "fdatasync blob")) : resolve()));
  });
}

function syncDir(dir: string, noSync: boolean): void {
  if (noSync) return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function nonceOf(index: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(8, index, false);
  return n;
}

function adOf(key: Uint8Array, index: number): Uint8Array {
  const ad = new Uint8Array(key.length + 4);
  ad.set(key, 0);
  new DataView(ad.buffer).setUint32(key.length, index, false);
  return ad;
}

export class LmdbBlobStore implements BlobStore {
  private readonly root: string;
  private readonly erasing = new Map<string, Promise<boolean>>();

  constructor(private readonly d: BlobStoreDeps) {
    this.root = join(d.dir, BLOBS_DIR);
    mkdirSync(this.root, { recursive: true });
    this.removeOrphanFiles();
  }

  private roomDir(roomId: bigint): string {
    return join(this.root, toHex(roomKey(roomId)));
  }

  private fileOf(roomId: bigint, blobId: Uint8Array): string {
    return join(this.roomDir(roomId), toHex(blobId));
  }

  /**
   * At open: unfinished uploads (`.part`, whose key never left memory) and files whose
   * commit never happened or whose erasure stopped before the unlink are removed.
   */
  private removeOrphanFiles(): void {
    for (const room of readdirSync(this.root)) {
      const dir = join(this.root, room);
      for (const name of readdirSync(dir)) {
        const keep =
          !name.endsWith(".part") &&
          /^[0-9a-f]{64}$/.test(name) &&
          /^[0-9a-f]{32}$/.test(room) &&
          this.d.t.cas.get(Buffer.from(room + name, "hex")) !== undefined;
        if (!keep) rmSync(join(dir, name), { force: true });
      }
    }
  }

  begin(roomId: bigint, blobId: Uint8Array, size: number): BlobWriter {
    this.d.life.live();
    const key = blobKey(roomId, blobId);
    const dir = this.roomDir(roomId);
    mkdirSync(dir, { recursive: true });
    const final = this.fileOf(roomId, blobId);
    const part = `${final}.part`;
    const fd = openSync(part, "w");
    const sealKey = copyBytes(this.d.rng.bytes(KEY_BYTES));
    let open = true;
    const cleanup = (): void => {
      sealKey.fill(0);
      if (open) closeSync(fd);
      open = false;
      rmSync(part, { force: true });
    };
    return {
      write: (index, data) => {
        if (!open) throw new StorageError("CLOSED", "blob upload was discarded");
        const sealed = sealAead(sealKey, nonceOf(index), adOf(key, index), data);
        const n = writeSync(fd, sealed, 0, sealed.length, index * SEALED_CHUNK);
        if (n !== sealed.length) throw new StorageError("IO", `short blob write (${n} bytes)`);
      },
      discard: cleanup,
      commit: (meta) =>
        this.d.life.run(async () => {
          await syncFd(fd, this.d.noSync);
          closeSync(fd);
          open = false;
          await this.commit(key, { ...meta, size, part, final, dir, sealKey });
        }),
    };
  }

  private async commit(
    key: Uint8Array,
    w: {
      userId: string;
      completedAt: bigint;
      size: number;
      part: string;
      final: string;
      dir: string;
      sealKey: Uint8Array;
    },
  ): Promise<void> {
    const { vault, slots, t } = this.d;
    const {
      slots: [slot],
      reused,
    } = slots.allocate(1);
    const s = slot as number;
    const hwm = slots.highWaterMark;
    let committed = false;
    try {
      try {
        vault.write(s, w.sealKey);
      } finally {
        w.sealKey.fill(0);
      }
      // The key must be durable before the row that names its slot (appender.ts).
      await vault.sync();
      renameSync(w.part, w.final);
      syncDir(w.dir, this.d.noSync);
      const row = encodeRow({
        slot: s,
        size: w.size,
        completedAt: w.completedAt,
        referenced: false,
        userId: w.userId,
      });
      await this.d.life.write(() => {
        const stored = t.meta.get(META.vaultHwm);
        const raise = stored === undefined || readU32(stored) < hwm;
        t.cas.putSync(key, row);
        for (const r of reused) t.vault_free.removeSync(u32(r));
        if (raise) t.meta.putSync(META.vaultHwm, u32(hwm));
      });
      committed = true;
    } finally {
      if (!committed) {
        vault.wipe(s);
        vault.syncNow();
        slots.release(s);
        rmSync(w.part, { force: true });
        rmSync(w.final, { force: true });
      }
    }
  }

  get(roomId: bigint, blobId: Uint8Array): StoredBlob | undefined {
    this.d.life.live();
    const key = blobKey(roomId, blobId);
    const row = this.d.t.cas.get(key);
    if (row === undefined) return undefined;
    return this.stored(key, decodeRow(row));
  }

  private stored(key: Uint8Array, r: Row): StoredBlob {
    return {
      roomId: readRoomKey(key, 0),
      blobId: copyBytes(key.subarray(16)),
      size: r.size,
      userId: r.userId,
      completedAt: r.completedAt,
      refs: countRefs(this.d.t, key),
      referenced: r.referenced,
    };
  }

  usage(userId: string, roomId: bigint): { user: number; room: number } {
    this.d.life.live();
    const room = roomKey(roomId);
    let user = 0;
    let inRoom = 0;
    // One pass over the rows (no reference counting): called once per new upload.
    for (const { key, value } of this.d.t.cas.getRange()) {
      const r = decodeRow(value);
      if (r.userId === userId) user += r.size;
      if (room.every((b, i) => key[i] === b)) inRoom += r.size;
    }
    return { user, room: inRoom };
  }

  list(): StoredBlob[] {
    this.d.life.live();
    const out: StoredBlob[] = [];
    for (const { key, value } of this.d.t.cas.getRange()) {
      if (key.length !== 16 + ID_BYTES) continue;
      out.push(this.stored(copyBytes(key), decodeRow(value)));
    }
    return out;
  }

  readChunk(roomId: bigint, blobId: Uint8Array, index: number): Uint8Array {
    this.d.life.live();
    const key = blobKey(roomId, blobId);
    const where = `blob ${toHex(blobId)} of room ${roomId}`;
    const row = this.d.t.cas.get(key);
    if (row === undefined) throw new StorageError("INVALID", `no ${where}`);
    const r = decodeRow(row);
    const length = Math.min(BLOB_CHUNK_SIZE, r.size - index * BLOB_CHUNK_SIZE);
    if (index < 0 || length <= 0)
      throw new StorageError("INVALID", `${where} has no chunk ${index}`);
    const sealed = new Uint8Array(length + TAG_BYTES);
    const file = this.fileOf(roomId, blobId);
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      throw new StorageError("CORRUPT", `${where}: file missing`, { cause: err });
    }
    try {
      const n = readSync(fd, sealed, 0, sealed.length, index * SEALED_CHUNK);
      if (n !== sealed.length) throw new StorageError("CORRUPT", `${where}: short chunk ${index}`);
    } finally {
      closeSync(fd);
    }
    const k = this.d.vault.read(r.slot);
    try {
      return openAead(k, nonceOf(index), adOf(key, index), sealed);
    } catch (err) {
      throw new StorageError("CORRUPT", `${where}: chunk ${index} does not open`, { cause: err });
    } finally {
      k.fill(0);
    }
  }

  erase(roomId: bigint, blobId: Uint8Array, context?: EraseContext): Promise<boolean> {
    let key: Uint8Array;
    try {
      this.d.life.live();
      key = blobKey(roomId, blobId);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.eraseKey(key, context);
  }

  /** Erases the blob `room ‖ blob_id` (also for frames' orphaned references, by key). */
  eraseKey(key: Uint8Array, context?: EraseContext): Promise<boolean> {
    const id = toHex(key);
    const running = this.erasing.get(id);
    if (running !== undefined) return running.then(() => false);
    const p = this.d.life.track(this.eraseNow(key, context));
    this.erasing.set(id, p);
    const done = (): void => {
      this.erasing.delete(id);
    };
    p.then(done, done);
    return p;
  }

  private async eraseNow(key: Uint8Array, context?: EraseContext): Promise<boolean> {
    const { t, vault, audit } = this.d;
    const roomId = readRoomKey(key, 0);
    let slot: number | undefined;
    try {
      slot = await this.d.life.write(() => {
        const row = t.cas.get(key);
        if (row === undefined) return undefined;
        const { slot } = decodeRow(row);
        const detail: Record<string, unknown> = { blob_id: toHex(key.subarray(16)) };
        if (context?.reason !== undefined) detail.reason = context.reason;
        // The record first: the only part that encodes (see erasure.ts).
        audit.appendInTxn({
          kind: "blob_erase",
          at: this.d.clock.now(),
          roomId,
          actor: context?.actor ?? "hub",
          detail,
        });
        t.cas.removeSync(key);
        for (const k of [...t.blob_refs.getKeys({ start: key, end: prefixEnd(key, 8) })]) {
          t.blob_refs.removeSync(copyBytes(k));
        }
        t.vault_dirty.putSync(u32(slot), ONE);
        return slot;
      });
    } catch (err) {
      audit.reload();
      throw err;
    }
    if (slot === undefined) return false;
    const erased = slot;
    vault.wipe(erased);
    await vault.sync();
    this.d.life.track(
      this.d.life
        .write(() => {
          t.vault_dirty.removeSync(u32(erased));
          t.vault_free.putSync(u32(erased), ONE);
        })
        .then(
          () => this.d.slots.release(erased),
          () => undefined,
        ),
    );
    const file = join(this.root, toHex(key.subarray(0, 16)), toHex(key.subarray(16)));
    try {
      if (existsSync(file)) unlinkSync(file);
    } catch {
      // The key is gone; the next open removes a file without a row.
    }
    return true;
  }
}
