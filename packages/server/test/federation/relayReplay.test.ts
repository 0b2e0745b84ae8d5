/**
 * The replay memory of relayed envelopes (federation/relayReplay.ts) on its own: each
 * signature believed at most once, whatever the rate and however full the bounded memory,
 * and a full memory costs a shrunk window, never a replay. Through OnwardRelay `accept`:
 * onwardRelayRules.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayMemory } from "../../src/federation/relayReplay.js";

describe("ReplayMemory", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("new" as const),
      origin: fc.nat(2),
      dt: fc.integer({ min: 1, max: 400 }),
    }),
    fc.record({ kind: fc.constant("replay" as const), pick: fc.nat() }),
  );

  it("believes each signature at most once and every new one in order, in bounded memory", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(op, { maxLength: 300 }),
        (max, window, ops) => {
          const m = new ReplayMemory(BigInt(window), max);
          const sent: { origin: string; sig: Uint8Array; at: bigint }[] = [];
          let now = 0n;
          for (const o of ops) {
            if (o.kind === "new") {
              now += BigInt(o.dt);
              const e = { origin: `h${o.origin}`, sig: sigOf(sent.length), at: now };
              sent.push(e);
              // A fresh envelope, its origin time rising: never refused, however full.
              expect(m.fresh(e.origin, e.sig, e.at, now)).toBe(true);
            } else if (sent.length > 0) {
              const e = sent[o.pick % sent.length] as (typeof sent)[number];
              expect(m.fresh(e.origin, e.sig, e.at, now)).toBe(false);
            }
            expect(m.size.signatures).toBeLessThanOrEqual(max);
            expect(m.size.floors).toBeLessThanOrEqual(3);
          }
        },
      ),
      { seed: 18, numRuns: 300 },
    );
  });

  it("refuses an origin time outside the window either side", () => {
    const m = new ReplayMemory(100n, 4);
    expect(m.fresh("h", sigOf(1), 0n, 101n)).toBe(false);
    expect(m.fresh("h", sigOf(2), 202n, 101n)).toBe(false);
    expect(m.fresh("h", sigOf(3), 1n, 101n)).toBe(true);
    expect(() => new ReplayMemory(100n, 0)).toThrow(RangeError);
  });
});

function sigOf(n: number): Uint8Array {
  const sig = new Uint8Array(64);
  new DataView(sig.buffer).setUint32(0, n);
  return sig;
}
