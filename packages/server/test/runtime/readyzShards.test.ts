/**
 * /readyz of a running daemon (in this process, so a test can make one of its shard workers
 * fail): not ready, naming `shards`, once a worker stopped (the daemon's own reaction, a
 * shutdown and exit 1, is replaced by a recorder here); not ready, naming `draining`, as
 * soon as shutdown begins. /healthz stays 200 until the listener closes.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { createLogger } from "../../src/runtime/node/logger.js";

const tmp = tempDir("readyz-shards");
type Body = { failing?: string[]; checks: Record<string, unknown> };
afterAll(() => tmp.cleanup());

describe("Daemon /readyz: shards and draining", () => {
  it("names a stopped shard worker, then draining", async () => {
    const data = join(tmp.path, "data");
    const r = buildConfig({
      server: {
        listen: "127.0.0.1:0",
        websocket_listen: "127.0.0.1:0",
        shards: 2,
        log_level: "fatal",
      },
      monitoring: { listen: "127.0.0.1:0" },
      database: { path: data, sync: "none" },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const failures: number[] = [];
    const d = await Daemon.start({
      config: r.config,
      log: createLogger("fatal"),
      shardSetupModule: new URL("../shards/fixtures/triggeredSetup.ts", import.meta.url).href,
      onShardFailure: (index) => failures.push(index),
    });
    const url = (p: string) => `http://127.0.0.1:${d.monitoringPort}${p}`;
    try {
      const ok = await fetch(url("/readyz"));
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as Body).checks.shards).toEqual({ ok: true });

      writeFileSync(join(data, "crash-1"), "");
      await waitUntil(() => failures.length > 0, "shard 1 stopped", { timeoutMs: 10_000 });
      expect(failures).toEqual([1]);
      // The shards probe is cached for a second.
      let body: Body | undefined;
      for (const until = Date.now() + 5000; Date.now() < until; ) {
        const res = await fetch(url("/readyz"));
        body = (await res.json()) as Body;
        if (res.status === 503) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(body?.failing).toEqual(["shards"]);
      expect(body?.checks.shards).toEqual({
        ok: false,
        reason: "shard 1 stopped: shard 1 exited with code 3",
      });
      expect((await fetch(url("/healthz"))).status).toBe(200);

      const stopping = d.shutdown("test");
      const during = await fetch(url("/readyz"));
      expect(during.status).toBe(503);
      expect(((await during.json()) as Body).failing).toContain("draining");
      await stopping;
    } finally {
      await d.shutdown("test");
    }
  }, 60_000);
});
