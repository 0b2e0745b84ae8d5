import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "../../src/transport/backoff.js";

describe("backoffDelay", () => {
  it("doubles its ceiling per attempt up to the cap, half of it fixed and half jitter", () => {
    const b = { initialMs: 100, maxMs: 1000, factor: 2 };
    expect([0, 1, 2, 3, 4, 9].map((a) => backoffDelay(a, b, 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([0, 1, 2, 3, 4, 9].map((a) => backoffDelay(a, b, 0.999999))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it("draws its jitter from the platform by default, within the attempt's bounds", () => {
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, DEFAULT_BACKOFF);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});
