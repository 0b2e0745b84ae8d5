/**
 * All shards in the caller's thread: what the simulation runs (deterministic, one event
 * loop) and what tests use. Each shard still has its own AppendBatcher and room map, so
 * placement and group commit behave as in the worker runtime.
 */
import type { SequencerEnv } from "../sequencer/env.js";
import type { Outcome } from "../vocabulary/outcome.js";
import { ShardCore, type ShardMessage, type ShardModeration } from "./shardCore.js";
import type { ShardSet } from "./shardSet.js";

export class InProcessShards implements ShardSet {
  readonly shards: ShardCore[];
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    count: number,
    env: Omit<SequencerEnv, "batcher" | "isLive">,
    maxBatch?: number,
    moderation?: ShardModeration,
    /** `env.storage` is not the hub's main storage (tests that play worker shards). */
    readonly ownStorage = false,
  ) {
    this.shards = Array.from({ length: count }, (_, index) =>
      ShardCore.open({
        index,
        count,
        env,
        ...(maxBatch === undefined ? {} : { maxBatch }),
        ...(moderation === undefined ? {} : { moderation }),
      }),
    );
  }

  get count(): number {
    return this.shards.length;
  }

  deliver(index: number, msg: ShardMessage): Promise<Outcome | undefined> {
    const shard = this.shards[index];
    if (shard === undefined) throw new RangeError(`no shard ${index}`);
    const p = shard.deliver(msg);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => {});
    return p;
  }

  broadcast(msg: ShardMessage): void {
    for (const s of this.shards) void s.deliver(msg);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    await this.drain();
    for (const s of this.shards) s.close();
  }
}
