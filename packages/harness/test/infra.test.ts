import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DeterminismViolation,
  installDeterminismGuards,
  PERFECT_LINK,
  Scheduler,
  SeededRng,
  SimNetwork,
  Trace,
} from "../src/index.js";
import * as viaLib from "./fixtures/coreViaLib.js";
import * as fakeCore from "./fixtures/fakeCore.js";

describe("SeededRng", () => {
  it("replays the same stream for the same seed and label, and differs otherwise", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n }),
        fc.integer({ min: 1, max: 5000 }),
        (seed, n) => {
          const a = new SeededRng(seed).bytes(n);
          const b = new SeededRng(seed).bytes(n);
          expect(a).toEqual(b);
          expect(new SeededRng(seed).fork("x").bytes(32)).not.toEqual(
            new SeededRng(seed).bytes(32),
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it("gives the same bytes however the reads are split", () => {
    const whole = new SeededRng(7n).bytes(10_000);
    const r = new SeededRng(7n);
    const parts = [r.bytes(1), r.bytes(4095), r.bytes(4097), r.bytes(1807)];
    expect(Buffer.concat(parts)).toEqual(Buffer.from(whole));
  });

  it("draws floats in [0,1) and integers in range, roughly uniformly", () => {
    const r = new SeededRng(1n);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      buckets[Math.floor(f * 10)]++;
    }
    for (const b of buckets) expect(b).toBeGreaterThan(1700);
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.pick([])).toThrow(RangeError);
    expect(r.chance(0)).toBe(false);
  });
});

describe("Scheduler", () => {
  it("runs events in virtual-time order and advances the clock", async () => {
    const trace = new Trace(true);
    const s = new Scheduler({ rng: new SeededRng(1n), trace, startMs: 1000n });
    const seen: string[] = [];
    s.schedule(30, "a", "third", () => void seen.push(`c@${s.now}`));
    s.schedule(10, "a", "first", () => void seen.push(`a@${s.now}`));
    const cancelled = s.schedule(20, "a", "never", () => void seen.push("x"));
    s.schedule(20, "b", "second", async () => {
      await Promise.resolve();
      seen.push(`b@${s.now}`);
    });
    s.cancel(cancelled);
    await s.run({});
    expect(seen).toEqual(["a@1010", "b@1020", "c@1030"]);
    expect(trace.lines()).toHaveLength(3);
  });

  it("drops the timers of a crashed node, also after it restarts", async () => {
    const s = new Scheduler({ rng: new SeededRng(2n), trace: new Trace() });
    const timers = s.timersFor("hub");
    let fired = 0;
    timers.set(10, () => fired++);
    const h = timers.set(5, () => fired++);
    timers.clear(h);
    s.crash("hub");
    s.restart("hub");
    s.timersFor("hub").set(20, () => fired++);
    await s.run({ untilMs: s.now + 100n });
    expect(fired).toBe(1);
  });

  it("stops at the event budget", async () => {
    const s = new Scheduler({ rng: new SeededRng(3n), trace: new Trace() });
    const loop = () => void s.schedule(1, "n", "loop", loop);
    loop();
    await expect(s.run({ maxEvents: 100 })).rejects.toThrow(/more than 100 events/);
  });

  it("gives each node a skewed clock", () => {
    const s = new Scheduler({ rng: new SeededRng(3n), trace: new Trace(), startMs: 500n });
    expect(s.clockFor(() => -200).now()).toBe(300n);
  });
});

async function runNetwork(seed: bigint) {
  const trace = new Trace();
  const rng = new SeededRng(seed);
  const s = new Scheduler({ rng: rng.fork("sched"), trace });
  const net = new SimNetwork(s, rng.fork("net"), {
    loss: 0.3,
    duplicate: 0.2,
    reorder: 0.2,
    latencyMs: 5,
    jitterMs: 10,
    lateReplay: 0.1,
  });
  const got: number[] = [];
  net.attach("b", (_from, bytes) => void got.push(bytes[0]!));
  for (let i = 0; i < 200; i++) net.send("a", "b", new Uint8Array([i]));
  net.replayOld(5);
  await s.run({});
  return { got, digest: trace.digest(), stats: { ...net.stats } };
}

describe("SimNetwork", () => {
  it("is deterministic per seed and really loses, duplicates and reorders", async () => {
    const a = await runNetwork(11n);
    const b = await runNetwork(11n);
    expect(a).toEqual(b);
    expect(a.stats.dropped).toBeGreaterThan(30);
    expect(a.stats.duplicated).toBeGreaterThan(10);
    const sorted = [...a.got].sort((x, y) => x - y);
    expect(a.got).not.toEqual(sorted);
    expect((await runNetwork(12n)).digest).not.toBe(a.digest);
  });

  it("partitions, holds and heals links", async () => {
    const s = new Scheduler({ rng: new SeededRng(5n), trace: new Trace() });
    const net = new SimNetwork(s, new SeededRng(6n), PERFECT_LINK);
    const got: string[] = [];
    net.attach("b", (from, bytes) => void got.push(`${from}:${bytes[0]}`));
    net.attach("a", (from, bytes) => void got.push(`${from}:${bytes[0]}`));
    net.partition(["a"], ["b"], false);
    net.send("a", "b", new Uint8Array([1]));
    net.send("b", "a", new Uint8Array([2]));
    await s.run({});
    expect(got).toEqual(["b:2"]);
    net.heal();
    net.hold("a", "b");
    net.send("a", "b", new Uint8Array([3]));
    net.send("a", "b", new Uint8Array([4]));
    await s.run({});
    expect(got).toEqual(["b:2"]);
    net.release("a", "b");
    await s.run({});
    expect(got).toEqual(["b:2", "a:3", "a:4"]);
    expect(() => net.setLink("a", "b", { ...PERFECT_LINK, loss: 0.9 })).toThrow(RangeError);
  });
});

describe("determinism guards", () => {
  it("refuse time, timers and entropy from core code, and only there", () => {
    const remove = installDeterminismGuards({ corePath: /fixtures[/\\]fakeCore/ });
    try {
      expect(() => fakeCore.useDateNow()).toThrow(DeterminismViolation);
      expect(() => fakeCore.useMathRandom()).toThrow(DeterminismViolation);
      expect(() => fakeCore.useSetTimeout()).toThrow(DeterminismViolation);
      expect(() => fakeCore.useGetRandomValues()).toThrow(DeterminismViolation);
      expect(typeof Date.now()).toBe("number");
      expect(Math.random()).toBeLessThan(1);
    } finally {
      remove();
    }
    expect(typeof fakeCore.useDateNow()).toBe("number");
    clearTimeout(fakeCore.useSetTimeout());
  });
});

describe("determinism guards during a simulation", () => {
  it("refuse direct core calls and hand third-party code seeded stand-ins", async () => {
    const { setSimulationSources } = await import("../src/index.js");
    const release = installDeterminismGuards({
      corePath: /[/\\]fixtures[/\\](fakeCore|coreViaLib)\.ts/,
    });
    const refused: string[] = [];
    setSimulationSources({
      nowMs: () => 42,
      random: () => 0.25,
      fill: (a) => a.fill(7),
      refused: (what) => refused.push(what),
    });
    try {
      expect(() => fakeCore.useMathRandom()).toThrow(DeterminismViolation);
      expect(() => fakeCore.useDateNow()).toThrow(DeterminismViolation);
      expect(() => fakeCore.useGetRandomValues()).toThrow(DeterminismViolation);
      expect(refused).toEqual(["Math.random", "Date.now", "crypto.getRandomValues"]);
      // Outside a core, time is virtual while a simulation runs; randomness stays real.
      expect(Date.now()).toBe(42);
      expect(Math.random()).not.toBe(0.25);
      // A library called by a core gets the seeded stand-ins.
      expect(viaLib.drawViaLibrary()).toBe(0.25);
      expect([...viaLib.bytesViaLibrary()]).toEqual([7, 7, 7, 7]);
    } finally {
      setSimulationSources(undefined);
      release();
    }
    expect(Date.now()).toBeGreaterThan(42);
  });
});
