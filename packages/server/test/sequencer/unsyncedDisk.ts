/**
 * A storage whose appends can be held between "committed" and "durable", as LMDB's are
 * between its transaction commit and the flush (storage/lmdbStorage.ts): while `hold` is
 * set, appended frames are readable by `readRange` but `append` has not resolved and
 * `nextIndex` does not count them; `release` makes them durable.
 */
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import type { AppendEntry, StoredFrame } from "../../src/storage/types.js";

export class UnsyncedDisk extends MemoryStorage {
  hold = false;
  private held: { entries: readonly AppendEntry[]; done: () => void }[] = [];

  override append(entries: readonly AppendEntry[]): Promise<void> {
    if (!this.hold) return super.append(entries);
    const copy = entries.map((e) => ({
      ...e,
      header: e.header.slice(),
      payload: e.payload.slice(),
    }));
    return new Promise((done) => this.held.push({ entries: copy, done }));
  }

  /** Makes every held append durable, in order. */
  async release(): Promise<void> {
    this.hold = false;
    for (const h of this.held.splice(0)) {
      await super.append(h.entries);
      h.done();
    }
  }

  override readRange(roomId: bigint, from: bigint, limit: number): StoredFrame[] {
    const out = super.readRange(roomId, from, limit);
    for (const h of this.held) {
      for (const e of h.entries) {
        if (e.roomId === roomId && e.logIndex >= from && out.length < limit) {
          out.push({ roomId, logIndex: e.logIndex, header: e.header, payload: e.payload });
        }
      }
    }
    return out;
  }
}
