/**
 * The open/closed state of one `LmdbStorage` and the writes it has in flight: operations
 * are refused once closed, and `close` (via `idle`) waits for every write started before.
 */
import { asStorageError, StorageError } from "../errors.js";
import type { Env } from "./layout.js";

export class Lifecycle {
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly env: Env,
    private readonly noSync: boolean,
  ) {}

  /** Marks the storage closed; returns false when it already was. */
  markClosed(): boolean {
    if (this.closed) return false;
    this.closed = true;
    return true;
  }

  live(): void {
    if (this.closed) throw new StorageError("CLOSED", "storage is closed");
  }

  /**
   * Starts an asynchronous operation: refuses it (as a rejection, never a synchronous
   * throw) once closed, turns synchronous failures into rejections, and lets `close` wait.
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      this.live();
      return this.track(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Runs a write so that `close` waits for it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = (): void => {
      this.inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Queues `fn` as (part of) one LMDB write transaction and waits until it is durable. */
  async write<T>(fn: () => T): Promise<T> {
    let result: T;
    try {
      result = await this.env.root.transaction(fn);
      if (!this.noSync) await this.env.root.flushed;
    } catch (err) {
      throw asStorageError(err, "commit");
    }
    return result;
  }

  /** Resolves when every write started so far (including background slot recycling) ended. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}
