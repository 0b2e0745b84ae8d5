/**
 * Canaries (DESIGN §8): bugs planted on purpose behind simulation-only flags, to prove that
 * the simulation's invariants can fire. Production never sets a flag, so every
 * `canary(name)` is false and the planted branch is dead code; only the harness turns
 * flags on for one run (`setCanaries`, exported only from the `@kalandra/proto/testing`
 * entry). The set is module-level so the check is one lookup in an (almost always) empty Set.
 *
 * @example
 * if (canary("ack_before_fsync")) ackNow(); // a planted bug, off outside the harness
 */

const active = new Set<string>();

/** True when the planted bug `name` is switched on (simulation only). */
export function canary(name: string): boolean {
  return active.size !== 0 && active.has(name);
}

/** Switches on exactly `names` (empty = production behaviour). Harness only. */
export function setCanaries(names: readonly string[]): void {
  active.clear();
  for (const n of names) active.add(n);
}
