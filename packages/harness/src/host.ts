/**
 * The simulation's only two touches of the real host, kept here so the rest of the
 * harness stays deterministic (tools/check-layers.ts checks it; guards.ts is the other
 * module allowed to touch the globals).
 */

/**
 * Lets real I/O finish between two simulated events: the simulation runs the real LMDB
 * code, whose writes complete on libuv's threads. Waiting for them changes only how long
 * a run takes, never the order of simulated events.
 */
export const settleRealIo = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Wall time in ms, for the run's report (how fast the simulation ran), never for decisions. */
export const wallClockMs = (): number => performance.now();
