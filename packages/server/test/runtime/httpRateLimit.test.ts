import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { HttpRateLimit } from "../../src/runtime/node/httpRateLimit.js";
import { APP_SETTINGS_PATH, webAppHandler } from "../../src/runtime/node/webApp.js";

const dir = tempDir("http-rate");
afterAll(() => dir.cleanup());
mkdirSync(dir.path, { recursive: true });
writeFileSync(join(dir.path, "index.html"), "<!doctype html><title>app</title>");

function manualClock(): { now(): bigint; advance(ms: number): void } {
  let t = 1_000n;
  return { now: () => t, advance: (ms) => (t += BigInt(ms)) };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

function get(port: number, path: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => {
        const retryAfter = res.headers["retry-after"];
        resolve({ status: res.statusCode ?? 0, ...(retryAfter ? { retryAfter } : {}) });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the per-address limit on plain HTTP requests", () => {
  it("serves a burst, answers 429 with retry-after beyond it, and serves again once refilled (running listener)", async () => {
    const clock = manualClock();
    const built = buildConfig(
      { web: { static_dir: dir.path, http_rate_per_ip: 2, http_burst_per_ip: 3 } },
      {},
    );
    if (!built.ok) throw new Error(JSON.stringify(built.issues));
    const server = createServer(await webAppHandler(built.config, new Uint8Array(32), clock));
    const port = await listen(server);
    try {
      const first = [];
      for (const path of ["/", APP_SETTINGS_PATH, "/", "/", APP_SETTINGS_PATH]) {
        first.push(await get(port, path));
      }
      expect(first.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
      expect(first[3]!.retryAfter).toBe("1");
      clock.advance(500); // one token at 2/s
      expect((await get(port, "/")).status).toBe(200);
      expect((await get(port, "/")).status).toBe(429);
    } finally {
      server.close();
    }
  });

  it("keeps addresses apart", () => {
    const limit = new HttpRateLimit({ ratePerSec: 1, burst: 2, clock: manualClock() });
    expect([limit.admit("10.0.0.1"), limit.admit("10.0.0.1"), limit.admit("10.0.0.1")]).toEqual([
      true,
      true,
      false,
    ]);
    expect(limit.admit("10.0.0.2")).toBe(true);
  });

  it("never tracks more than maxTracked addresses: idle buckets are dropped, the rest share the overflow bucket", () => {
    const clock = manualClock();
    const limit = new HttpRateLimit({ ratePerSec: 1, burst: 1, clock, maxTracked: 3 });
    for (const a of ["a", "b", "c"]) expect(limit.admit(a)).toBe(true);
    // a, b, c are empty: newcomers share one overflow bucket (one request between them).
    expect([limit.admit("d"), limit.admit("e")]).toEqual([true, false]);
    expect(limit.tracked).toBe(3);
    clock.advance(1_000); // a, b, c refilled: dropped to make room
    expect(limit.admit("f")).toBe(true);
    expect(limit.tracked).toBe(1);
  });

  it("admits at most burst + rate × elapsed from one address, for any request pattern", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 200 }),
        (rate, burst, gaps) => {
          const clock = manualClock();
          const limit = new HttpRateLimit({ ratePerSec: rate, burst, clock });
          let admitted = 0;
          let elapsed = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            elapsed += gap;
            if (limit.admit("x")) admitted++;
          }
          expect(admitted).toBeLessThanOrEqual(burst + Math.floor((rate * elapsed) / 1000));
        },
      ),
    );
  });
});
