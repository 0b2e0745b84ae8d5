import { seededRng } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../../src/federation/link/index.js";

describe("link redial backoff", () => {
  it("doubles from min to max, with at most half of each delay random", () => {
    const o = { minMs: 100, maxMs: 3000 };
    const rng = seededRng("backoff");
    const nominal = [100, 200, 400, 800, 1600, 3000, 3000];
    nominal.forEach((n, i) => {
      const d = backoffDelay(o, i + 1, rng);
      expect(d, `failure ${i + 1}`).toBeGreaterThanOrEqual(n / 2);
      expect(d, `failure ${i + 1}`).toBeLessThanOrEqual(n);
    });
  });

  it("stays within [min/2, max] for any failure count (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 1000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (min, extra, failures) => {
          const o = { minMs: min, maxMs: min + extra };
          const d = backoffDelay(o, failures, seededRng(failures));
          expect(d).toBeGreaterThanOrEqual(Math.floor(min / 2));
          expect(d).toBeLessThanOrEqual(o.maxMs);
        },
      ),
      { seed: 7 },
    );
  });
});
