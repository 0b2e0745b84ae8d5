/**
 * The key vault (docs/storage.md, DESIGN §5): a file of fixed 32-byte slots that holds every
 * payload key, so erasing a key means overwriting its bytes in place.
 *
 * Why not keep keys in LMDB: LMDB is copy-on-write; a deleted or overwritten row leaves its
 * old page on the free list, where the bytes survive until the page happens to be reused.
 * Deleting a key row would not destroy the key. Here the only copy of a key lives at one
 * fixed offset of `keys.vault`; `wipe` writes zeros over exactly those bytes with `pwrite`
 * and `fdatasync` makes the overwrite durable. LMDB keeps only the slot number.
 *
 * Layout: a 64-byte header (magic "KLDRVLT1", slot size u32 BE, zeros) then slot N at
 * 64 + 32·N. An all-zero slot is empty. This class does file I/O only; which slots are
 * free is decided by `SlotAllocator` together with the LMDB tables.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { asStorageError, StorageError } from "../errors.js";

export const SLOT_BYTES = 32;
export const VAULT_HEADER_BYTES = 64;
const MAGIC = new TextEncoder().encode("KLDRVLT1");
const ZERO_SLOT = new Uint8Array(SLOT_BYTES);

function offsetOf(slot: number): number {
  return VAULT_HEADER_BYTES + slot * SLOT_BYTES;
}

export class KeyVault {
  private inflight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly fd: number,
    private readonly noSync: boolean,
  ) {}

  /** Opens `path`, creating it (and syncing its directory entry) when missing. */
  static open(path: string, noSync = false): KeyVault {
    try {
      if (!existsSync(path)) {
        const fd = openSync(path, "wx+");
        const header = new Uint8Array(VAULT_HEADER_BYTES);
        header.set(MAGIC, 0);
        new DataView(header.buffer).setUint32(8, SLOT_BYTES, false);
        writeSync(fd, header, 0, header.length, 0);
        fsyncSync(fd);
        const dir = openSync(dirname(path), "r");
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
        return new KeyVault(fd, noSync);
      }
      const fd = openSync(path, "r+");
      const header = new Uint8Array(VAULT_HEADER_BYTES);
      const n = readSync(fd, header, 0, header.length, 0);
      const view = new DataView(header.buffer);
      if (n !== VAULT_HEADER_BYTES || !MAGIC.every((b, i) => header[i] === b)) {
        closeSync(fd);
        throw new StorageError("CORRUPT", `${path} is not a key vault`);
      }
      if (view.getUint32(8, false) !== SLOT_BYTES) {
        closeSync(fd);
        throw new StorageError("CORRUPT", `${path}: unsupported slot size`);
      }
      return new KeyVault(fd, noSync);
    } catch (err) {
      throw asStorageError(err, `open key vault ${path}`);
    }
  }

  /** Slots the file has room for (some may be beyond the allocator's high-water mark). */
  fileSlots(): number {
    const size = fstatSync(this.fd).size;
    return Math.max(0, Math.floor((size - VAULT_HEADER_BYTES) / SLOT_BYTES));
  }

  /** A copy of the slot's 32 bytes (all zero for an empty slot). */
  read(slot: number): Uint8Array {
    const out = new Uint8Array(SLOT_BYTES);
    let n: number;
    try {
      n = readSync(this.fd, out, 0, SLOT_BYTES, offsetOf(slot));
    } catch (err) {
      throw asStorageError(err, `read vault slot ${slot}`);
    }
    if (n !== SLOT_BYTES)
      throw new StorageError("CORRUPT", `vault slot ${slot} is beyond the file`);
    return out;
  }

  isEmpty(slot: number): boolean {
    const b = this.read(slot);
    return b.every((x) => x === 0);
  }

  /** Writes a key into its slot (not yet durable: call `sync`). */
  write(slot: number, key: Uint8Array): void {
    if (key.length !== SLOT_BYTES) throw new StorageError("INVALID", "vault key must be 32 bytes");
    this.pwrite(slot, key);
  }

  /**
   * Writes `keys` (32 bytes per slot, in the order of `slots`) with one `pwrite` per run of
   * consecutive slots: a batch of fresh slots from the high-water mark is one system call.
   */
  writeMany(slots: readonly number[], keys: Uint8Array): void {
    if (keys.length !== slots.length * SLOT_BYTES) {
      throw new StorageError("INVALID", "vault keys must be 32 bytes per slot");
    }
    let i = 0;
    while (i < slots.length) {
      let j = i + 1;
      while (j < slots.length && slots[j] === (slots[j - 1] as number) + 1) j++;
      this.pwriteRun(slots[i] as number, keys.subarray(i * SLOT_BYTES, j * SLOT_BYTES));
      i = j;
    }
  }

  /** Overwrites the slot with zeros in place (not yet durable: call `sync`). */
  wipe(slot: number): void {
    this.pwrite(slot, ZERO_SLOT);
  }

  private pwrite(slot: number, bytes: Uint8Array): void {
    this.pwriteRun(slot, bytes.subarray(0, SLOT_BYTES));
  }

  private pwriteRun(first: number, bytes: Uint8Array): void {
    if (this.closed) throw new StorageError("CLOSED", "key vault is closed");
    try {
      const n = writeSync(this.fd, bytes, 0, bytes.length, offsetOf(first));
      if (n !== bytes.length) throw new Error(`short write (${n} bytes)`);
    } catch (err) {
      throw asStorageError(err, `write vault slot ${first}`);
    }
  }

  /**
   * Makes every write issued before this call durable. Concurrent callers share one
   * fdatasync (group commit): a call made while one is running waits for the next one,
   * since the running one may have started before its writes.
   */
  sync(): Promise<void> {
    if (this.noSync) return Promise.resolve();
    if (this.inflight === null) {
      this.inflight = this.startSync();
      return this.inflight;
    }
    if (this.queued === null) {
      this.queued = this.inflight
        .catch(() => undefined)
        .then(() => {
          this.queued = null;
          if (this.inflight === null) this.inflight = this.startSync();
          return this.inflight;
        });
    }
    return this.queued;
  }

  private startSync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fdatasync(this.fd, (err) => {
        this.inflight = null;
        if (err) reject(asStorageError(err, "fdatasync key vault"));
        else resolve();
      });
    });
  }

  syncNow(): void {
    if (this.noSync) return;
    try {
      fdatasyncSync(this.fd);
    } catch (err) {
      throw asStorageError(err, "fdatasync key vault");
    }
  }

  /**
   * Zeroes every slot from `slots` on, then shrinks the file to exactly `slots` slots.
   * The zeroing comes first so no key bytes are left in blocks the file gives back.
   */
  truncateTo(slots: number): void {
    const have = this.fileSlots();
    for (let s = slots; s < have; s++) this.wipe(s);
    this.syncNow();
    try {
      ftruncateSync(this.fd, offsetOf(slots));
    } catch (err) {
      throw asStorageError(err, "truncate key vault");
    }
    this.syncNow();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * Which vault slots are free. Slots come from the free list first (slots whose erasure is
 * complete and durable), then from the high-water mark. Both are persisted by the LMDB
 * transaction that uses them (docs/storage.md "Crash atomicity").
 */
export class SlotAllocator {
  private readonly free: number[];

  constructor(
    free: Iterable<number>,
    private hwm: number,
  ) {
    // Lowest slots last so `pop` reuses them first: keeps the file compact.
    this.free = [...free].sort((a, b) => b - a);
  }

  get highWaterMark(): number {
    return this.hwm;
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** Takes `n` slots; `reused` are those taken from the persisted free list. */
  allocate(n: number): { slots: number[]; reused: number[] } {
    const slots: number[] = [];
    const reused: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.free.pop();
      if (s !== undefined) {
        slots.push(s);
        reused.push(s);
      } else {
        slots.push(this.hwm++);
      }
    }
    return { slots, reused };
  }

  /** Returns a slot whose key bytes are already wiped and synced. */
  release(slot: number): void {
    this.free.push(slot);
  }
}
