/**
 * Redial delays of a hub link: exponential from `minMs`, capped at `maxMs`, with "equal
 * jitter" (half the delay fixed, half random) so hubs that lost each other at the same
 * moment do not redial in lockstep, yet never sooner than half the nominal delay. Pure:
 * randomness is injected (seeded in the simulation).
 */
import type { Rng } from "@kalandra/proto";

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/** The delay before dial attempt number `failures + 1` (failures ≥ 1 after a failed one). */
export function backoffDelay(o: BackoffOptions, failures: number, rng: Rng): number {
  const exp = Math.min(o.maxMs, o.minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  const half = exp / 2;
  const b = rng.bytes(4);
  const unit = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  return Math.round(half + (half * unit) / 0x1_0000_0000);
}
