import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  freePort,
  ManualTime,
  pollUntil,
  seededBytes,
  seededRng,
  tempDir,
  waitUntil,
  within,
  writeHubKey,
} from "../src/index.js";

describe("seededRng", () => {
  it("is SHA-256 in counter mode over seed/counter, pooled across calls", () => {
    const block = (i: number) => createHash("sha256").update(`s/${i}`).digest();
    const rng = seededRng("s");
    const a = rng.bytes(20);
    const b = rng.bytes(20);
    expect(Buffer.from([...a, ...b])).toEqual(Buffer.concat([block(0), block(1)]).subarray(0, 40));
    expect(seededBytes("s", 40)).toEqual(new Uint8Array([...a, ...b]));
    expect(seededBytes("t", 8)).not.toEqual(a.subarray(0, 8));
  });

  it("draws integers below a bound, replayably, and refuses a bad bound", () => {
    const xs = Array.from(
      { length: 200 },
      (() => {
        const r = seededRng(1);
        return () => r.below(7);
      })(),
    );
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 7)).toBe(true);
    expect(new Set(xs).size).toBe(7);
    const again = seededRng(1);
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => again.below(7)));
    expect(() => seededRng(1).below(0)).toThrow(RangeError);
    expect(() => seededRng(1).below(2 ** 32 + 1)).toThrow(RangeError);
  });
});

describe("tempDir", () => {
  it("creates a directory and removes it with its contents", () => {
    const d = tempDir("support");
    writeFileSync(join(d.path, "f"), "x");
    expect(existsSync(join(d.path, "f"))).toBe(true);
    d.cleanup();
    expect(existsSync(d.path)).toBe(false);
    d.cleanup();
  });
});

describe("freePort", () => {
  it("returns a loopback port a UDP socket can bind", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const s = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind(port, "127.0.0.1", () => resolve());
    });
    await new Promise<void>((r) => s.close(() => r()));
  });

  it("never hands out the same port twice, and none a client's connection could be given", async () => {
    const ports = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
    }
  });
});

describe("ManualTime", () => {
  it("fires due timers in time order and moves the clock to each", () => {
    const t = new ManualTime(1000n);
    const fired: [string, bigint][] = [];
    t.set(30, () => fired.push(["b", t.now()]));
    t.set(10, () => fired.push(["a", t.now()]));
    const c = t.set(20, () => fired.push(["c", t.now()]));
    t.clear(c);
    expect(t.pendingTimers).toBe(2);
    t.advance(25);
    expect(fired).toEqual([["a", 1010n]]);
    expect(t.now()).toBe(1025n);
    t.advance(5);
    expect(fired).toEqual([
      ["a", 1010n],
      ["b", 1030n],
    ]);
    t.setNow(5n);
    expect(t.now()).toBe(5n);
  });
});

describe("pollUntil", () => {
  it("advances virtual time until the condition holds", async () => {
    const t = new ManualTime(0n);
    let done = false;
    t.set(250, () => {
      void Promise.resolve().then(() => {
        done = true;
      });
    });
    await pollUntil(() => done, t, "the timer", { stepMs: 100 });
    expect(t.now()).toBe(300n);
  });

  it("fails naming what it waited for and what it saw", async () => {
    const t = new ManualTime(0n);
    await expect(
      pollUntil(() => false, t, "never", { stepMs: 50, maxMs: 200, state: () => "nothing" }),
    ).rejects.toThrow("not reached after 200 virtual ms: never (saw nothing)");
    expect(t.now()).toBe(200n);
  });
});

describe("real-time waits", () => {
  it("waitUntil resolves once the condition holds and fails loudly after its timeout", async () => {
    let n = 0;
    await waitUntil(() => ++n >= 3, "three checks", { intervalMs: 1 });
    expect(n).toBe(3);
    await expect(waitUntil(() => false, "never", { timeoutMs: 20 })).rejects.toThrow(
      "timed out after 20 ms waiting for never",
    );
  });

  it("within passes a result through and rejects a promise that does not settle", async () => {
    expect(await within(Promise.resolve(7), 1000, "seven")).toBe(7);
    await expect(within(new Promise(() => undefined), 20, "forever")).rejects.toThrow(
      "timed out after 20 ms waiting for forever",
    );
  });
});

describe("writeHubKey", () => {
  it("writes an Ed25519 PEM (0600) and returns its raw public key as hex", () => {
    const dir = tempDir("hubkey");
    try {
      const path = join(dir.path, "hub-key.pem");
      const hex = writeHubKey(path);
      expect(hex).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const pub = createPublicKey(createPrivateKey(readFileSync(path, "utf8")));
      expect(pub.export({ format: "jwk" }).x).toBe(Buffer.from(hex, "hex").toString("base64url"));
    } finally {
      dir.cleanup();
    }
  });
});
