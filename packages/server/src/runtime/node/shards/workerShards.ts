/**
 * Shards as worker threads (Node runtime, DESIGN §9): one per core by default. Each worker
 * owns its rooms' sequencers and its own storage directory (setup.ts); the hub thread keeps
 * sessions, verifies signatures and routes frames, and receives every outbound frame to
 * deliver, so fan-out work stays off the sequencing threads.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { DEFAULT_SEQUENCER_LIMITS, type SequencerLimits } from "../../../sequencer/env.js";
import type { ShardMessage } from "../../../shards/shardCore.js";
import type { ShardSet } from "../../../shards/shardSet.js";
import { type Outcome, refuse } from "../../../vocabulary/outcome.js";
import type { Sink } from "../../../vocabulary/target.js";
import type { FromWorker, ToWorker, WorkerData } from "./workerMain.js";

export interface WorkerShardsOptions {
  /** Default: one per core. */
  count?: number;
  /** The hub's Ed25519 seed: shards sign responses with it. */
  hubSeed: Uint8Array;
  sink: Sink;
  /** Module URL exporting `setupShard` (default: ./setup.ts, LMDB + PublicGroup). */
  setupModule?: string;
  /** Options handed to `setupShard` (default setup: `{path, hubKey?, noSync?}`). */
  setupOptions: Record<string, unknown>;
  limits?: Partial<SequencerLimits>;
  maxBatch?: number;
  /** Federation on: this hub's domain (sequenced frames also go to `replicas` targets). */
  federation?: { domain: string };
  /**
   * A worker stopped without being closed (an uncaught error, out of memory): its waiting
   * and later requests are answered INTERNAL, and this is called (kalandrad exits 1).
   */
  onFailure?: (index: number, error: Error) => void;
}

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

export class WorkerShards implements ShardSet {
  readonly ownStorage = true;
  private readonly workers: Worker[] = [];
  /** Per worker: request id → its resolver. */
  private readonly waiting: Map<number, (o: Outcome | undefined) => void>[] = [];
  /** Workers that stopped on their own, with why. */
  private readonly stopped = new Map<number, Error>();
  /** Ping id → its resolver (liveness). */
  private readonly pings = new Map<number, () => void>();
  private onFailure: ((index: number, error: Error) => void) | undefined;
  private nextId = 1;
  /** Deliveries per worker, posted together once per event-loop turn (one structured clone). */
  private readonly outbox: { id: number; msg: ShardMessage }[][] = [];
  private closing = false;

  private constructor(private readonly sink: Sink) {}

  get count(): number {
    return this.workers.length;
  }

  /** Starts the workers; resolves once every shard restored its rooms. */
  static async start(opts: WorkerShardsOptions): Promise<WorkerShards> {
    const set = new WorkerShards(opts.sink);
    const count = opts.count ?? Math.max(1, availableParallelism());
    const setupModule = opts.setupModule ?? new URL(`./setup${EXT}`, import.meta.url).href;
    const limits = { ...DEFAULT_SEQUENCER_LIMITS, ...opts.limits };
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const workerData: WorkerData = {
        index,
        count,
        options: opts.setupOptions,
        setupModule,
        hubSeed: opts.hubSeed,
        limits,
        ...(opts.maxBatch === undefined ? {} : { maxBatch: opts.maxBatch }),
        ...(opts.federation === undefined ? {} : { federation: opts.federation }),
      };
      const main = new URL(`./workerMain${EXT}`, import.meta.url);
      // From sources, a plain-JS bootstrap registers tsx first (workerBoot.mjs).
      const w =
        EXT === ".ts"
          ? new Worker(new URL("./workerBoot.mjs", import.meta.url), {
              workerData: { ...workerData, entry: main.href },
            })
          : new Worker(main, { workerData });
      set.workers.push(w);
      set.waiting.push(new Map());
      let error: Error | undefined;
      w.on("error", (e) => {
        error = e;
      });
      w.on("exit", (code) =>
        set.onExit(index, error ?? new Error(`shard ${index} exited with code ${code}`)),
      );
      ready.push(
        new Promise((resolve, reject) => {
          w.on("message", (m: FromWorker) => {
            if (m.t === "ready") resolve();
            else if (m.t === "failed") reject(new Error(`shard ${index}: ${m.error}`));
            else set.onMessage(m, index);
          });
          w.on("error", reject);
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(set.workers.map((w) => w.terminate()));
      throw e;
    }
    set.onFailure = opts.onFailure;
    return set;
  }

  private onExit(index: number, error: Error): void {
    if (this.closing || this.stopped.has(index)) return;
    this.stopped.set(index, error);
    const waiting = this.waiting[index];
    const left = [...(waiting?.values() ?? [])];
    waiting?.clear();
    const refusal = refuse("INTERNAL", `shard ${index} stopped: ${error.message}`);
    for (const cb of left) cb({ ok: false, refusal });
    this.onFailure?.(index, error);
  }

  private onMessage(m: FromWorker, index: number): void {
    if (m.t === "batch") for (const it of m.items) this.onMessage(it, index);
    else if (m.t === "out") this.sink(m.target, m.frame);
    else if (m.t === "pong") {
      this.pings.get(m.id)?.();
      this.pings.delete(m.id);
    } else if (m.t === "fanout") {
      const senderIds = Array.from(m.senderIds);
      this.sink({ kind: "members", roomId: m.roomId, senderIds }, m.frame);
    } else if (m.t === "done") {
      const waiting = this.waiting[index];
      const cb = waiting?.get(m.id);
      waiting?.delete(m.id);
      cb?.(
        m.error === undefined
          ? (m.outcome as Outcome | undefined)
          : { ok: false, refusal: refuse("INTERNAL", m.error) },
      );
    }
  }

  deliver(index: number, msg: ShardMessage): Promise<Outcome | undefined> {
    const w = this.workers[index];
    if (w === undefined) throw new RangeError(`no shard ${index}`);
    if (this.stopped.has(index)) {
      return Promise.resolve({ ok: false, refusal: refuse("INTERNAL", `shard ${index} stopped`) });
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting[index]?.set(id, resolve);
      let box = this.outbox[index];
      if (box === undefined) {
        box = [];
        this.outbox[index] = box;
      }
      box.push({ id, msg });
      if (box.length > 1) return;
      // Once per event-loop turn (issue 15): the frames of every socket read and every
      // signature verified in this poll phase cross to the worker in one message.
      setImmediate(() => {
        const items = this.outbox[index] ?? [];
        this.outbox[index] = [];
        w.postMessage({ t: "batch", items } satisfies ToWorker);
      });
    });
  }

  /**
   * Whether each worker is alive and answers a ping within `timeoutMs` (the readiness check
   * `shards`): a stopped worker is down at once; a worker whose event loop is stuck (an
   * endless loop, a hung synchronous call) does not answer.
   */
  liveness(timeoutMs: number): Promise<{ index: number; ok: boolean; reason?: string }[]> {
    return Promise.all(
      this.workers.map((w, index) => {
        const stopped = this.stopped.get(index);
        if (stopped !== undefined) {
          return { index, ok: false, reason: `stopped: ${stopped.message}` };
        }
        const id = this.nextId++;
        return new Promise<{ index: number; ok: boolean; reason?: string }>((resolve) => {
          const timer = setTimeout(() => {
            this.pings.delete(id);
            resolve({ index, ok: false, reason: `did not answer within ${timeoutMs} ms` });
          }, timeoutMs);
          timer.unref();
          this.pings.set(id, () => {
            clearTimeout(timer);
            resolve({ index, ok: true });
          });
          w.postMessage({ t: "ping", id } satisfies ToWorker);
        });
      }),
    );
  }

  broadcast(msg: ShardMessage): void {
    for (let i = 0; i < this.workers.length; i++) void this.deliver(i, msg);
  }

  async drain(): Promise<void> {
    while (this.waiting.some((w) => w.size > 0)) await new Promise((r) => setTimeout(r, 1));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.drain();
    await Promise.all(
      this.workers.map((w, i) =>
        this.stopped.has(i)
          ? undefined
          : new Promise<void>((resolve) => {
              w.on("message", (m: FromWorker) => {
                if (m.t === "closed") resolve();
              });
              w.postMessage({ t: "close" } satisfies ToWorker);
            }),
      ),
    );
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
