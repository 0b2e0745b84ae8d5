/**
 * The environment a core is given instead of reaching for globals (DESIGN §2).
 * Production wires the `system*` implementations (node/system.ts); the simulation harness
 * wires a virtual clock, seeded randomness and its own timer queue.
 */

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
