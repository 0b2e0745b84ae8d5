/**
 * The Node implementations of the environment in runtime.ts: wall clock, node:crypto's
 * CSPRNG and `setTimeout`. Runtimes wire them into the cores; no core imports this module
 * (tools/check-layers.ts).
 */
import { randomFillSync } from "node:crypto";
import type { Clock, Rng, Timers } from "../runtime.js";

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
