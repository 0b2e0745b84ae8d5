/**
 * The environment a core is given instead of reaching for globals (DESIGN §2).
 * Production wires the `system*` implementations below; the simulation harness wires
 * a virtual clock, seeded randomness and its own timer queue.
 */
import { randomFillSync } from "node:crypto";

/** Wall-clock time in milliseconds since the Unix epoch. */
export interface Clock {
  now(): bigint;
}

/** Cryptographically strong random bytes (seeded and reproducible in simulation). */
export interface Rng {
  bytes(n: number): Uint8Array;
}

export type TimerHandle = { readonly id: number };

/** One-shot timers; the simulation fires them from its event queue. */
export interface Timers {
  set(delayMs: number, fn: () => void): TimerHandle;
  clear(handle: TimerHandle): void;
}

export const systemClock: Clock = { now: () => BigInt(Date.now()) };

export const systemRng: Rng = {
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    randomFillSync(out);
    return out;
  },
};

export function systemTimers(): Timers {
  const live = new Map<number, NodeJS.Timeout>();
  let next = 1;
  return {
    set(delayMs, fn) {
      const id = next++;
      live.set(
        id,
        setTimeout(() => {
          live.delete(id);
          fn();
        }, delayMs),
      );
      return { id };
    },
    clear(handle) {
      const t = live.get(handle.id);
      if (t !== undefined) {
        clearTimeout(t);
        live.delete(handle.id);
      }
    },
  };
}
