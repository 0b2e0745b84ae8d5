/**
 * Entry point of one shard worker thread (Node runtime, DESIGN §9): opens the shard's own
 * storage through the setup module, restores its rooms, and runs a ShardCore driven by
 * messages from the hub thread. Outbound frames are posted back to the hub thread, which
 * owns the sessions: fan-out leaves the sequencing thread at once.
 */
import { availableParallelism } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { createDeviceSigner, systemClock, systemTimers } from "@kalandra/proto";
import { shardModeration } from "../../../moderation/shardModeration.js";
import type { SequencerLimits } from "../../../sequencer/env.js";
import { ShardCore, type ShardMessage } from "../../../shards/shardCore.js";
import { createHubSigner } from "./hubSigner.js";
import type { SetupShard, ShardSetupArgs } from "./setup.js";

export interface WorkerData extends ShardSetupArgs {
  setupModule: string;
  hubSeed: Uint8Array;
  limits: SequencerLimits;
  maxBatch?: number;
  federation?: { domain: string };
}

export type ToWorker =
  | { t: "deliver"; id: number; msg: ShardMessage }
  | { t: "batch"; items: { id: number; msg: ShardMessage }[] }
  /** Liveness (readiness check `shards`): answered at once, from the worker's event loop. */
  | { t: "ping"; id: number }
  | { t: "close" };
export type FromWorker =
  | { t: "ready" }
  | { t: "out"; target: import("../../../vocabulary/target.js").Target; frame: Uint8Array }
  /** A `members` target: the ids as one typed array (one memcpy to clone, not n BigInts). */
  | { t: "fanout"; roomId: bigint; senderIds: BigUint64Array; frame: Uint8Array }
  | { t: "done"; id: number; outcome: unknown; error?: string }
  | { t: "closed" }
  | { t: "pong"; id: number }
  | { t: "failed"; error: string }
  | { t: "batch"; items: FromWorker[] };

function packIds(ids: readonly bigint[]): BigUint64Array {
  const out = new BigUint64Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i] as bigint;
  return out;
}

const port = parentPort;
if (port === null) throw new Error("workerMain runs in a worker thread");
const data = workerData as WorkerData;

try {
  const mod = (await import(data.setupModule)) as { setupShard: SetupShard };
  const { storage, groups } = await mod.setupShard({
    index: data.index,
    count: data.count,
    options: data.options,
  });
  // Messages to the hub thread are batched per microtask: a group-committed batch of
  // frames (their ACKs, fan-outs and completions) crosses the thread boundary in one post.
  let queue: FromWorker[] = [];
  const post = (m: FromWorker): void => {
    queue.push(m);
    if (queue.length > 1) return;
    queueMicrotask(() => {
      const q = queue;
      queue = [];
      port.postMessage(q.length === 1 ? q[0] : ({ t: "batch", items: q } satisfies FromWorker));
    });
  };
  const shard = ShardCore.open({
    index: data.index,
    count: data.count,
    env: {
      storage,
      clock: systemClock,
      timers: systemTimers(),
      // With a core to spare, ACKs are signed on a signing thread while the previous batch
      // is being synced (hubSigner.ts); with a shard on every core that thread only adds
      // hand-over cost (measured: ~13 µs of CPU per frame more, no more frames per second).
      hubSigner:
        data.count < availableParallelism()
          ? createHubSigner(data.hubSeed)
          : createDeviceSigner(data.hubSeed),
      sink: (target, frame) =>
        post(
          target.kind === "members"
            ? { t: "fanout", roomId: target.roomId, senderIds: packIds(target.senderIds), frame }
            : { t: "out", target, frame },
        ),
      groups,
      limits: data.limits,
      ...(data.federation === undefined ? {} : { federation: data.federation }),
    },
    ...(data.maxBatch === undefined ? {} : { maxBatch: data.maxBatch }),
    moderation: shardModeration,
  });
  port.on("message", (m: ToWorker) => {
    if (m.t === "close") {
      shard.close();
      void storage.close().then(() => post({ t: "closed" }));
      return;
    }
    if (m.t === "ping") {
      post({ t: "pong", id: m.id });
      return;
    }
    const items = m.t === "batch" ? m.items : [m];
    for (const it of items) {
      shard.deliver(it.msg).then(
        (outcome) => post({ t: "done", id: it.id, outcome }),
        (e: unknown) => post({ t: "done", id: it.id, outcome: undefined, error: String(e) }),
      );
    }
  });
  post({ t: "ready" });
} catch (e) {
  port.postMessage({ t: "failed", error: String((e as Error)?.stack ?? e) } satisfies FromWorker);
}
