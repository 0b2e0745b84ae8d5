/**
 * The system implementations of the environment in runtime.ts: wall clock, the platform's
 * CSPRNG (`#platform/random`: node:crypto in Node, WebCrypto in browsers) and `setTimeout`.
 * Runtimes wire them into the cores; no core imports this module (tools/check-layers.ts).
 * Despite the folder's name it runs in browsers too (the folder is proto's runtime layer).
 */
import { fillRandom } from "#platform/random";
import type { Clock, Rng, Timers } from "../runtime.js";

export const systemClock: Clock = { now: () => BigInt(Date.now()) };

export const systemRng: Rng = {
  bytes(n: number): Uint8Array {
    return fillRandom(new Uint8Array(n));
  },
};

export function systemTimers(): Timers {
  const live = new Map<number, ReturnType<typeof setTimeout>>();
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
