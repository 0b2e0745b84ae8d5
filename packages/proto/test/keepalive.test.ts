/**
 * The keep-alive rule both ends use (keepalive.ts): PING after `intervalMs` of silence and
 * again every interval while it lasts, dead after `timeoutMs`, anything heard resets both.
 */
import { ManualTime } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Keepalive, type KeepaliveOptions } from "../src/keepalive.js";

function setup(o: KeepaliveOptions) {
  const time = new ManualTime(0n);
  const pings: bigint[] = [];
  const dead: { at: bigint; silentMs: number }[] = [];
  const ka = new Keepalive(o, {
    clock: time,
    timers: time,
    ping: () => pings.push(time.now()),
    dead: (silentMs) => dead.push({ at: time.now(), silentMs }),
  });
  return { time, pings, dead, ka };
}

describe("Keepalive", () => {
  it("pings after each interval of silence and declares the peer dead at the timeout", () => {
    const { time, pings, dead, ka } = setup({ intervalMs: 1000, timeoutMs: 3500 });
    ka.start();
    time.advance(10_000);
    expect(pings).toEqual([1000n, 2000n, 3000n]);
    expect(dead).toEqual([{ at: 3500n, silentMs: 3500 }]);
    expect(ka.running).toBe(false);
    expect(time.pendingTimers).toBe(0);
  });

  it("never pings or gives up on a peer that keeps talking, and wakes once per interval", () => {
    const { time, pings, dead, ka } = setup({ intervalMs: 1000, timeoutMs: 3000 });
    ka.start();
    for (let i = 0; i < 100; i++) {
      time.advance(700);
      ka.heard();
    }
    expect(pings).toEqual([]);
    expect(dead).toEqual([]);
    expect(time.pendingTimers).toBe(1); // heard() arms nothing
  });

  it("a PONG (anything heard) after a PING starts the silence over", () => {
    const { time, pings, dead, ka } = setup({ intervalMs: 1000, timeoutMs: 2500 });
    ka.start();
    time.advance(1200); // PING at 1000
    ka.heard(); // its PONG at 1200
    time.advance(2400); // silent from 1200: PING at 2200, 3200; still alive at 3600
    expect(pings).toEqual([1000n, 2200n, 3200n]);
    expect(dead).toEqual([]);
    time.advance(200);
    expect(dead).toEqual([{ at: 3700n, silentMs: 2500 }]);
  });

  it("with the interval off only times out; with the timeout off only pings; both off arms nothing", () => {
    const a = setup({ intervalMs: 0, timeoutMs: 500 });
    a.ka.start();
    a.time.advance(1000);
    expect(a.pings).toEqual([]);
    expect(a.dead.map((d) => d.at)).toEqual([500n]);
    const b = setup({ intervalMs: 400, timeoutMs: 0 });
    b.ka.start();
    b.time.advance(1000);
    expect(b.pings).toEqual([400n, 800n]);
    expect(b.dead).toEqual([]);
    const c = setup({ intervalMs: 0, timeoutMs: 0 });
    c.ka.start();
    expect(c.time.pendingTimers).toBe(0);
  });

  it("a wall clock stepped backwards is no silence; stop() cancels", () => {
    const { time, dead, ka } = setup({ intervalMs: 0, timeoutMs: 1000 });
    ka.start();
    time.advance(600);
    time.setNow(-5_000n);
    time.advance(900); // the look at 1000 sees now < lastHeard
    expect(dead).toEqual([]);
    ka.stop();
    time.advance(100_000);
    expect(dead).toEqual([]);
    expect(time.pendingTimers).toBe(0);
  });

  it("for any pattern of arrivals: dead exactly when a silence reaches the timeout, pings only in silences", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 30 }),
        (interval, timeout, gaps) => {
          const { time, pings, dead, ka } = setup({ intervalMs: interval, timeoutMs: timeout });
          ka.start();
          let last = 0n;
          const arrivals: bigint[] = [];
          for (const g of gaps) {
            if (dead.length > 0) break;
            time.advance(g);
            if (dead.length > 0) break;
            ka.heard();
            arrivals.push(time.now());
            last = time.now();
          }
          time.advance(timeout + 1);
          const firstLongGap = [0n, ...arrivals].findIndex((a, i, all) => {
            const next = all[i + 1] ?? a + BigInt(timeout) + 1n;
            return next - a >= BigInt(timeout);
          });
          const from = [0n, ...arrivals][firstLongGap] ?? last;
          expect(dead).toEqual([{ at: from + BigInt(timeout), silentMs: timeout }]);
          // Every PING falls in a silence of at least `interval`.
          for (const p of pings) {
            // (an arrival at the very tick of a PING came after it)
            const before = [0n, ...arrivals].filter((a) => a < p).at(-1) ?? 0n;
            expect(p - before).toBeGreaterThanOrEqual(BigInt(interval));
          }
        },
      ),
      { seed: 1515, numRuns: 200 },
    );
  });
});
