/**
 * A worker shard that stops on its own (not closed): requests waiting on it and sent to it
 * later are answered INTERNAL instead of hanging, the owner is told (kalandrad exits 1 so
 * its supervisor restarts it), the other shards keep answering, and close() still returns.
 */
import { tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerShards } from "../../src/runtime/node/shards/workerShards.js";
import { HUB_SEED } from "../hub/harness.js";

const tmp = tempDir("shard-failure");
const dir = tmp.path;
afterAll(() => tmp.cleanup());

describe("WorkerShards when a worker stops", () => {
  it("answers INTERNAL for that shard, reports it, keeps the others, closes", async () => {
    const failures: { index: number; error: Error }[] = [];
    const shards = await WorkerShards.start({
      count: 2,
      hubSeed: HUB_SEED,
      sink: () => undefined,
      setupModule: new URL("./fixtures/crashingSetup.ts", import.meta.url).href,
      setupOptions: { path: dir, noSync: true, crashAfterMs: 1500 },
      onFailure: (index, error) => failures.push({ index, error }),
    });
    const rooms = { t: "query", query: { q: "rooms" } } as const;
    expect(await shards.deliver(0, rooms)).toEqual({ ok: true, data: [] });
    await waitUntil(() => failures.length > 0, "the crashing worker reported", {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    expect(failures.map((f) => f.index)).toEqual([0]);
    expect(failures[0]?.error.message).toMatch(/exited with code 3/);
    const after = await shards.deliver(0, rooms);
    expect(after?.ok).toBe(false);
    expect(after?.ok === false && after.refusal.code).toBe("INTERNAL");
    expect(await shards.deliver(1, rooms)).toEqual({ ok: true, data: [] });
    await shards.close();
  }, 30_000);
});
