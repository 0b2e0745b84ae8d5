/**
 * WorkerShards.liveness (the readiness check `shards`): every worker answers its ping; a
 * worker whose event loop is stuck does not answer in time, and answers again once free; a
 * worker that stopped is down at once, with why.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerShards } from "../../src/runtime/node/shards/workerShards.js";
import { HUB_SEED } from "../hub/harness.js";

const tmp = tempDir("shard-liveness");
afterAll(() => tmp.cleanup());

describe("WorkerShards.liveness", () => {
  it("reports a stuck worker as not answering and a stopped one as stopped", async () => {
    const dir = tmp.path;
    const failures: number[] = [];
    const shards = await WorkerShards.start({
      count: 2,
      hubSeed: HUB_SEED,
      sink: () => undefined,
      setupModule: new URL("./fixtures/triggeredSetup.ts", import.meta.url).href,
      setupOptions: { path: dir, noSync: true },
      onFailure: (index) => failures.push(index),
    });
    try {
      expect(await shards.liveness(2000)).toEqual([
        { index: 0, ok: true },
        { index: 1, ok: true },
      ]);
      const hang = join(dir, "hang-1");
      writeFileSync(hang, "3000");
      // The worker removes the file as its loop gets stuck (for 3 s from then).
      await waitUntil(() => !existsSync(hang), "shard 1 is stuck", { timeoutMs: 10_000 });
      expect(await shards.liveness(300)).toEqual([
        { index: 0, ok: true },
        { index: 1, ok: false, reason: "did not answer within 300 ms" },
      ]);
      // Once its loop is free it answers again (bounded: 10 s).
      let again = false;
      for (const until = Date.now() + 10_000; !again && Date.now() < until; ) {
        again = (await shards.liveness(300)).every((s) => s.ok);
      }
      expect(again).toBe(true);
      writeFileSync(join(dir, "crash-0"), "");
      await waitUntil(() => failures.length > 0, "shard 0 stopped", {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      expect(await shards.liveness(300)).toEqual([
        { index: 0, ok: false, reason: "stopped: shard 0 exited with code 3" },
        { index: 1, ok: true },
      ]);
    } finally {
      await shards.close();
    }
  }, 30_000);
});
