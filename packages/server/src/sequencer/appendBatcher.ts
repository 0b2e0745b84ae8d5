/**
 * Group commit (issue 3: "persisted, synced in batches"): entries accepted while one
 * `storage.append` is in flight are written together by the next one, so a burst of N
 * frames costs about one fsync instead of N. Batches are written strictly one after the
 * other, so a frame is durable only after every frame sequenced before it; callers act
 * on a frame (acknowledge, fan out) only when its batch resolved (DESIGN §5).
 *
 * One batcher per shard: the rooms of a shard share its transactions.
 */
import { canary } from "@kalandra/proto";
import type { AppendEntry, Storage } from "../storage/types.js";

type Done = (err: unknown) => void;

export class AppendBatcher {
  private queue: AppendEntry[] = [];
  private callbacks: Done[] = [];
  private inFlight = false;
  private scheduled = false;
  /** Number of `storage.append` calls made, for benches and tests. */
  batches = 0;

  constructor(
    private readonly storage: Storage,
    private readonly maxBatch = 4096,
  ) {}

  /** Queues one entry; `done` runs once it is durable (err undefined) or failed. */
  add(entry: AppendEntry, done: Done): void {
    this.queue.push(entry);
    this.callbacks.push(done);
    this.kick();
  }

  /** Entries waiting or being written. */
  get backlog(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.inFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // A microtask, not a timer: everything handled in the current synchronous burst joins
    // the batch, and the simulation stays deterministic.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) return;
    this.inFlight = true;
    const n = Math.min(this.queue.length, this.maxBatch);
    const entries = this.queue.splice(0, n);
    const callbacks = this.callbacks.splice(0, n);
    let err: unknown;
    try {
      this.batches++;
      // Simulation-only planted bug (DESIGN §8): acknowledge before the batch is durable.
      if (canary("ack_before_fsync")) for (const cb of callbacks.splice(0)) cb(undefined);
      await this.storage.append(entries);
    } catch (e) {
      err = e ?? new Error("append failed");
    }
    this.inFlight = false;
    for (const cb of callbacks) cb(err);
    this.kick();
  }
}
