/**
 * Group commit (issue 3: "persisted, synced in batches"): entries accepted while
 * `storage.append` calls are in flight are written together by the next one, so a burst
 * of N frames costs about one fsync instead of N. If more than one batch is outstanding
 * (`maxInFlight`), storage commits them in the order they were handed over and never
 * commits a batch after an earlier one failed, and completions are reported strictly in
 * order. So a frame is
 * durable only after every frame sequenced before it, and callers act on a frame
 * (acknowledge, fan out) only when its batch resolved (DESIGN §5).
 *
 * One batcher per shard: the rooms of a shard share its transactions.
 */
import { canary } from "@kalandra/proto";
import type { AppendEntry, Storage } from "../storage/types.js";

type Done = (err: unknown) => void;

interface Item {
  entry: AppendEntry;
  done: Done;
  /** False while something the entry carries is still being produced (its ACK's signature). */
  ready: boolean;
}

export class AppendBatcher {
  private queue: Item[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Completion of the newest batch: each batch reports only after the one before it. */
  private last: Promise<void> = Promise.resolve();
  /** Number of `storage.append` calls made, for benches and tests. */
  batches = 0;
  /** Entries queued and entries reported (in order) so far, for `flushed`. */
  private added = 0;
  private reported = 0;
  private flushWaiters: { upTo: number; resolve: () => void }[] = [];

  /**
   * @param maxBatch most entries in one `storage.append`
   * @param maxInFlight `storage.append` calls outstanding at once; completions are
   *   reported strictly in order whatever it is (storage orders the commits and never
   *   commits one after an earlier failed). One is the default: measured against two
   *   (docs/performance.md "Sequencer"), two split the bursts into more, smaller batches
   *   whose vault and LMDB fsyncs compete for the disk, and one room got slower.
   */
  constructor(
    private readonly storage: Storage,
    private readonly maxBatch = 4096,
    private readonly maxInFlight = 1,
  ) {}

  /** Queues one entry; `done` runs once it is durable (err undefined) or failed. */
  add(entry: AppendEntry, done: Done): void {
    this.queue.push({ entry, done, ready: true });
    this.added++;
    this.kick();
  }

  /**
   * Queues an entry that may not be written yet (its ACK is being signed off-thread); call
   * the returned function once it may. Entries are written in the order they were added,
   * so an entry that is not ready holds back those queued after it.
   */
  addPending(entry: AppendEntry, done: Done): () => void {
    const item: Item = { entry, done, ready: false };
    this.queue.push(item);
    this.added++;
    return () => {
      item.ready = true;
      this.kick();
    };
  }

  /**
   * Resolves once every entry queued before this call was reported (durable or failed),
   * whatever is queued after it: a room being deleted waits for its last frames only.
   */
  flushed(): Promise<void> {
    if (this.reported >= this.added) return Promise.resolve();
    const upTo = this.added;
    return new Promise((resolve) => this.flushWaiters.push({ upTo, resolve }));
  }

  /** Entries waiting or being written. */
  get backlog(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.inFlight >= this.maxInFlight || this.scheduled || this.queue[0]?.ready !== true) {
      return;
    }
    this.scheduled = true;
    // A microtask, not a timer: everything handled in the current synchronous burst joins
    // the batch, and the simulation stays deterministic.
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.inFlight >= this.maxInFlight || this.queue[0]?.ready !== true) return;
    this.inFlight++;
    const max = Math.min(this.queue.length, this.maxBatch);
    let n = 1;
    while (n < max && this.queue[n]!.ready) n++;
    const items = this.queue.splice(0, n);
    const entries = items.map((it) => it.entry);
    const callbacks = items.map((it) => it.done);
    this.batches++;
    // Simulation-only planted bug (DESIGN §8): acknowledge before the batch is durable.
    if (canary("ack_before_fsync")) for (const cb of callbacks.splice(0)) cb(undefined);
    let written: Promise<void>;
    try {
      written = this.storage.append(entries);
    } catch (e) {
      written = Promise.reject(e);
    }
    const before = this.last;
    this.last = written.then(
      () => this.complete(before, callbacks, undefined, n),
      (e: unknown) => this.complete(before, callbacks, e ?? new Error("append failed"), n),
    );
    // With room for another append in flight, the rest of the queue goes out now.
    this.kick();
  }

  /** Reports a written batch once every batch before it has been reported. */
  private async complete(
    before: Promise<void>,
    callbacks: Done[],
    err: unknown,
    count: number,
  ): Promise<void> {
    await before;
    this.inFlight--;
    for (const cb of callbacks) cb(err);
    this.reported += count;
    if (this.flushWaiters.length > 0) {
      const done = this.flushWaiters.filter((w) => w.upTo <= this.reported);
      this.flushWaiters = this.flushWaiters.filter((w) => w.upTo > this.reported);
      for (const w of done) w.resolve();
    }
    this.kick();
  }
}
