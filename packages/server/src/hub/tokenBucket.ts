import type { Clock } from "@kalandra/proto";

/**
 * A token bucket: `ratePerSec` tokens refill continuously up to `burst`; each admitted
 * event spends one. Time comes from the injected clock so tests drive it.
 */
export class TokenBucket {
  private tokens: number;
  private last: bigint;

  constructor(
    private ratePerSec: number,
    private burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Changes the rate at run time (SIGHUP reload); the current fill is kept, capped at the new burst. */
  configure(ratePerSec: number, burst: number): void {
    this.refill();
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Spends `n` tokens if available. */
  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Refilled to its burst: it admits as much as a new bucket would. */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsedMs = Number(now - this.last);
    this.last = now;
    if (elapsedMs > 0)
      this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSec) / 1000);
  }
}
