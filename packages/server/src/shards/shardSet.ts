/**
 * The interface between the hub core and its shards (DESIGN §9), with two runtimes:
 * `InProcessShards` (every shard in the caller's thread: simulation, tests, small hubs)
 * and `WorkerShards` (one worker thread per shard: the Node runtime). The same
 * compliance suite runs against both (test/shards/compliance.test.ts).
 */
import type { Outcome } from "../vocabulary/outcome.js";
import type { ShardMessage } from "./shardCore.js";

export interface ShardSet {
  readonly count: number;
  /**
   * Each shard keeps its own storage (worker shards: a directory each), so the hub's main
   * storage may hold another copy of a room's log (a federation replica) and a shard a copy
   * of a room another hub sequences now; absent: the shards use the main storage.
   */
  readonly ownStorage?: boolean;
  /** Delivers a message to one shard; resolves when the request it carries was answered. */
  deliver(index: number, msg: ShardMessage): Promise<Outcome | undefined>;
  /** Delivers a message to every shard (session liveness). */
  broadcast(msg: ShardMessage): void;
  /** Resolves once every shard has handled everything delivered before. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
