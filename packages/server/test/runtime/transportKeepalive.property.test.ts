/**
 * The front's keep-alive rule (websocket/transportKeepalive.ts), as properties: never dead
 * before the timeout and always at it; a ping only after an interval of silence and at most
 * one per interval of it; the sweep's pace within its bounds.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keepaliveVerdict, sweepMs } from "../../src/runtime/node/websocket/transportKeepalive.js";

const periods = fc.record({
  intervalMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600_000 })),
  timeoutMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600_000 })),
});

describe("transport keep-alive rule", () => {
  it("dead exactly from the timeout on", () => {
    fc.assert(
      fc.property(periods, fc.integer({ min: 0, max: 2_000_000 }), (o, silent) => {
        const v = keepaliveVerdict({ heard: 1000, pinged: undefined }, 1000 + silent, o);
        expect(v === "dead").toBe(o.timeoutMs > 0 && silent >= o.timeoutMs);
      }),
    );
  });

  it("pings once an interval of silence passed, then not again within an interval", () => {
    fc.assert(
      fc.property(
        periods,
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.integer({ min: 0, max: 2_000_000 }),
        (o, silent, since) => {
          const at = 1000 + silent;
          const fresh = keepaliveVerdict({ heard: 1000, pinged: undefined }, at, o);
          const alive = !(o.timeoutMs > 0 && silent >= o.timeoutMs);
          expect(fresh === "ping").toBe(alive && o.intervalMs > 0 && silent >= o.intervalMs);
          // A ping `since` ms ago, during this silence.
          const pinged = Math.max(1000, at - since);
          const again = keepaliveVerdict({ heard: 1000, pinged }, at, o);
          if (again === "ping") expect(at - pinged).toBeGreaterThanOrEqual(o.intervalMs);
        },
      ),
    );
  });

  it("a ping before the last sign of life does not hold the next one back", () => {
    const o = { intervalMs: 100, timeoutMs: 1000 };
    expect(keepaliveVerdict({ heard: 500, pinged: 450 }, 600, o)).toBe("ping");
    expect(keepaliveVerdict({ heard: 500, pinged: 550 }, 600, o)).toBeUndefined();
  });

  it("sweeps at a quarter of the shorter period, within 50 ms … 5 s; never when both are off", () => {
    fc.assert(
      fc.property(periods, (o) => {
        const ms = sweepMs(o);
        if (o.intervalMs === 0 && o.timeoutMs === 0) {
          expect(ms).toBeUndefined();
          return;
        }
        expect(ms).toBeGreaterThanOrEqual(50);
        expect(ms).toBeLessThanOrEqual(5000);
        const shorter = Math.min(...[o.intervalMs, o.timeoutMs].filter((p) => p > 0));
        if (shorter >= 200 && shorter <= 20_000) expect(ms).toBe(Math.floor(shorter / 4));
      }),
    );
  });
});
