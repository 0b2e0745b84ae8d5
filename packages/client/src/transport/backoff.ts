/** Reconnection delays: exponential backoff with "equal jitter" (half fixed, half random). */

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000, factor: 2 };

/** The delay before retry number `attempt` (0 first); `unit` is uniform in [0, 1). */
export function backoffDelay(attempt: number, b: BackoffOptions, unit = randomUnit()): number {
  const ceiling = Math.min(b.maxMs, b.initialMs * b.factor ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * unit);
}

function randomUnit(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return (b[0] ?? 0) / 0x1_0000_0000;
}
