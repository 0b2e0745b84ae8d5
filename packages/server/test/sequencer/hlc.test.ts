import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HybridLogicalClock, hlcParts, hlcStamp } from "../../src/hlc.js";

describe("HybridLogicalClock", () => {
  it("never goes backwards, whatever the wall clock does (property)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 40n }),
        fc.array(fc.oneof(fc.bigInt({ min: -5000n, max: 5000n }), fc.constant(0n)), {
          maxLength: 300,
        }),
        (start, steps) => {
          let wall = start;
          const hlc = new HybridLogicalClock({ now: () => wall });
          let last = -1n;
          for (const d of steps) {
            wall += d;
            const s = hlc.next();
            if (s <= last) return false;
            // Never behind the wall clock when it is ahead of us.
            if (wall >= 0n && hlcParts(s).ms < wall) return false;
            last = s;
          }
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });

  it("counts within a millisecond and carries into the next one when the counter is full", () => {
    const hlc = new HybridLogicalClock({ now: () => 10n });
    expect(hlc.next()).toBe(hlcStamp(10n, 0));
    expect(hlc.next()).toBe(hlcStamp(10n, 1));
    hlc.observe(hlcStamp(10n, 0xffff));
    expect(hlc.next()).toBe(hlcStamp(11n, 0));
    expect(hlc.peek()).toBe(hlcStamp(11n, 0));
  });

  it("restarts above a restored floor even if the wall clock is behind it", () => {
    const hlc = new HybridLogicalClock({ now: () => 5n }, hlcStamp(100n, 3));
    expect(hlcParts(hlc.next())).toEqual({ ms: 100n, counter: 4 });
  });

  it("checks its inputs", () => {
    expect(() => hlcStamp(-1n, 0)).toThrow(RangeError);
    expect(() => hlcStamp(0n, 70000)).toThrow(RangeError);
  });
});
