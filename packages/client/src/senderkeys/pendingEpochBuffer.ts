/**
 * A bounded holding area for application messages that arrive for an epoch the client
 * has not reached yet (the commit that creates it is still in flight; DESIGN §7). The
 * lifecycle code pushes them here and drains them once it enters that epoch. Bounds keep
 * a flood of future-epoch frames from growing memory: a count, a byte budget, and how
 * far ahead of the current epoch a message may be.
 */
export interface PendingEpochBufferOptions {
  /** Most messages held in total. Default 256. */
  readonly maxMessages?: number;
  /** Most bytes held in total (as reported by `size`). Default 4 MiB. */
  readonly maxBytes?: number;
  /** Most epochs ahead of `current` a message may be. Default 1 (the next epoch only). */
  readonly maxEpochsAhead?: bigint;
}

export type BufferPushResult =
  | { readonly kind: "buffered" }
  | { readonly kind: "dropped"; readonly reason: "full" | "tooFarAhead" | "notFuture" };

export class PendingEpochBuffer<T> {
  private readonly byEpoch = new Map<bigint, T[]>();
  private count = 0;
  private bytes = 0;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly maxEpochsAhead: bigint;

  /** `size(item)` reports an item's byte cost (e.g. its frame length). */
  constructor(
    private readonly size: (item: T) => number,
    opts: PendingEpochBufferOptions = {},
  ) {
    this.maxMessages = opts.maxMessages ?? 256;
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.maxEpochsAhead = opts.maxEpochsAhead ?? 1n;
  }

  /** Holds `item` for `epoch`, given the client's `current` epoch. */
  push(current: bigint, epoch: bigint, item: T): BufferPushResult {
    if (epoch <= current) return { kind: "dropped", reason: "notFuture" };
    if (epoch - current > this.maxEpochsAhead) return { kind: "dropped", reason: "tooFarAhead" };
    const n = this.size(item);
    if (this.count + 1 > this.maxMessages || this.bytes + n > this.maxBytes) {
      return { kind: "dropped", reason: "full" };
    }
    const list = this.byEpoch.get(epoch);
    if (list === undefined) this.byEpoch.set(epoch, [item]);
    else list.push(item);
    this.count += 1;
    this.bytes += n;
    return { kind: "buffered" };
  }

  /**
   * Removes and returns the items held for `epoch` in arrival order, and discards every
   * item of an older epoch (they can no longer be opened).
   */
  take(epoch: bigint): T[] {
    const out = this.byEpoch.get(epoch) ?? [];
    this.byEpoch.delete(epoch);
    this.account(out);
    this.dropBelow(epoch);
    return out;
  }

  /** Discards items of epochs below `epoch`; returns how many were dropped. */
  dropBelow(epoch: bigint): number {
    let dropped = 0;
    for (const [e, list] of this.byEpoch) {
      if (e < epoch) {
        this.byEpoch.delete(e);
        this.account(list);
        dropped += list.length;
      }
    }
    return dropped;
  }

  get length(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.bytes;
  }

  clear(): void {
    this.byEpoch.clear();
    this.count = 0;
    this.bytes = 0;
  }

  private account(removed: readonly T[]): void {
    for (const item of removed) this.bytes -= this.size(item);
    this.count -= removed.length;
  }
}
