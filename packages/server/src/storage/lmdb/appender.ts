/**
 * The append path of `LmdbStorage` (DESIGN §5, docs/storage.md): one accepted frame = one
 * LMDB transaction with header, key slot reference, sealed payload, user index row,
 * idempotency record and room state. Before that transaction is queued the frame's key is
 * written to its vault slot and fdatasync'ed, so a committed frame always finds its key
 * after a crash. lmdb-js batches the transactions queued in one event turn into one commit,
 * and concurrent vault syncs share one fdatasync: that is the group commit that makes
 * thousands of appends per second possible.
 */
import type { Rng } from "@kalandra/proto";
import { asStorageError, StorageError } from "../errors.js";
import { copyBytes, prefixEnd, readFrameKey, roomKey } from "../keys.js";
import { KEY_BYTES } from "../seal.js";
import { readU32, u32 } from "../slotRef.js";
import type { AppendEntry } from "../types.js";
import { putRows, sealRows } from "./frames.js";
import { type Env, META } from "./layout.js";
import type { KeyVault, SlotAllocator } from "./vault.js";

export class FrameAppender {
  /** Next log_index per room as committed (what `nextIndex` reports). */
  private readonly next = new Map<bigint, bigint>();
  /** Next log_index per room counting appends queued but not yet committed (gap check). */
  private readonly planned = new Map<bigint, bigint>();
  /**
   * Commit of the newest append (true = committed). Appends may overlap (sealing and the
   * vault sync of one while another commits); each waits for the one before it to commit
   * before queuing its own transaction, and gives up if that one failed, so the log on
   * disk never has a batch after a missing one.
   */
  private lastCommit: Promise<boolean> = Promise.resolve(true);

  constructor(
    private readonly env: Env,
    private readonly vault: KeyVault,
    private readonly slots: SlotAllocator,
    private readonly rng: Rng,
    private readonly noSync: boolean,
  ) {}

  /** The next log_index of a room as committed (read from the log once, then cached). */
  nextIndex(roomId: bigint): bigint {
    const cached = this.next.get(roomId);
    if (cached !== undefined) return cached;
    const prefix = roomKey(roomId);
    let n = 0n;
    for (const key of this.env.tables.headers.getKeys({
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

  /** The room's log was dropped (dropRoomLog): its next log_index is read again (0). */
  forget(roomId: bigint): void {
    this.next.delete(roomId);
    this.planned.delete(roomId);
  }

  async append(entries: readonly AppendEntry[]): Promise<void> {
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
    const t = this.env.tables;
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
}
