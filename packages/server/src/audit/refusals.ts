/**
 * Audit records of refused calls (admin API, in-band moderation, unbound credentials),
 * rate-limited (issue 8: refused calls are audited, but a flood of them must not fill the
 * disk with fsynced records). At most
 * `burst` records per minute of the injected clock; the next record written says how many
 * were left out (`suppressed_before`).
 */
import type { Clock } from "@kalandra/proto";

const WINDOW_MS = 60_000n;

export class RefusalLimiter {
  private windowStart = -1n;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly burst = 20,
  ) {}

  /**
   * The detail to audit (with `suppressed_before` when records were left out), or
   * undefined when this refusal is only counted.
   */
  admit(detail: Record<string, unknown>): Record<string, unknown> | undefined {
    const now = this.clock.now();
    if (this.windowStart < 0n || now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.burst) {
      this.suppressed++;
      return undefined;
    }
    this.inWindow++;
    const out = this.suppressed > 0 ? { ...detail, suppressed_before: this.suppressed } : detail;
    this.suppressed = 0;
    return out;
  }
}
