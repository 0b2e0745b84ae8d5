/** Deterministic test environment: seeded RNG, manual clock and timers, the cipher suite. */
import { createHash } from "node:crypto";
import type { Clock, Rng, TimerHandle, Timers } from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";

/** SHA-256 counter-mode stream from a seed: replayable randomness for tests. */
export function seededRng(seed: string): Rng {
  let counter = 0;
  return {
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const block = createHash("sha256").update(seed).update(String(counter++)).digest();
        out.set(block.subarray(0, Math.min(32, n - off)), off);
        off += 32;
      }
      return out;
    },
  };
}

/**
 * A clock the test sets. It starts at the wall time because ts-mls checks key package
 * lifetimes against `Date.now()` when a member commits an Add (RFC 9420 §10.1): key
 * packages stamped from a fixed date would expire under the tests one day.
 */
export class ManualClock implements Clock {
  constructor(public ms = BigInt(Date.now())) {}
  now(): bigint {
    return this.ms;
  }
}

/** Timers fired only when the test advances them. */
export class ManualTimers implements Timers {
  #next = 1;
  readonly #live = new Map<number, { at: number; fn: () => void }>();
  #now = 0;
  set(delayMs: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    this.#live.set(id, { at: this.#now + delayMs, fn });
    return { id };
  }
  clear(h: TimerHandle): void {
    this.#live.delete(h.id);
  }
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, t] of [...this.#live]) {
      if (t.at <= this.#now) {
        this.#live.delete(id);
        t.fn();
      }
    }
  }
  get pending(): number {
    return this.#live.size;
  }
}

/** Suite 1 (docs/contracts.md) on the fast node:crypto provider, drawing from a seeded Rng. */
export async function suite(seed = "suite"): Promise<CiphersuiteImpl> {
  return getKalandraCiphersuiteImpl(seededRng(seed));
}
