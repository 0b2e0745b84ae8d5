/**
 * The idle fleet's guard on its load processes (idleFleet.ts): bounds the open phase.
 */
import type { ChildProcess } from "node:child_process";

export interface WatchdogOptions {
  /** Wall-clock time (Date.now()) after which no process starts another handshake. */
  deadline?: number;
  log?: (line: string) => void;
  interval?: boolean;
}

/** Silence from a process (it reports its health every 10 s) after which it is stuck. */
export const STUCK_MS = 60_000;
/** Time past the open deadline for the last handshakes (30 s each) and the report. */
export const REPORT_GRACE_MS = 90_000;

/**
 * Bounds the open phase: a load process that says nothing for STUCK_MS (a blocked event
 * loop: Node's key-generation deadlock stopped one for good, issue 15) or has not reported
 * REPORT_GRACE_MS after the deadline fails the fleet with what it last said, instead of
 * the bench waiting forever without its JSON line.
 */
export class Watchdog {
  readonly #last = new Map<
    number,
    { at: number; opened: number; child: Pick<ChildProcess, "pid">; fail: (e: Error) => void }
  >();
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  /** `interval`: check every 5 s on its own (else the caller calls `check`). */
  constructor(private readonly o: WatchdogOptions) {
    if (o.interval) {
      this.#timer = setInterval(() => this.check(), 5000);
      this.#timer.unref();
    }
  }

  watch(
    p: number,
    child: Pick<ChildProcess, "pid">,
    fail: (e: Error) => void,
    now = Date.now(),
  ): void {
    this.#last.set(p, { at: now, opened: 0, child, fail });
  }

  heard(p: number, opened: number | undefined, now = Date.now()): void {
    const w = this.#last.get(p);
    if (w === undefined) return;
    w.at = now;
    if (opened !== undefined) w.opened = opened;
  }

  done(p: number): void {
    this.#last.delete(p);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  check(now = Date.now()): void {
    for (const [p, w] of this.#last) {
      const silentMs = now - w.at;
      const late = this.o.deadline !== undefined && now > this.o.deadline + REPORT_GRACE_MS;
      if (silentMs < STUCK_MS && !late) continue;
      this.#last.delete(p);
      const why = late
        ? `no report ${Math.round((now - (this.o.deadline ?? now)) / 1000)} s after the open deadline`
        : `silent for ${Math.round(silentMs / 1000)} s (event loop blocked?)`;
      const message = `idle load process ${p} (pid ${w.child.pid}) stuck: ${why}; it had opened ≥ ${w.opened} sessions`;
      this.o.log?.(message);
      w.fail(new Error(message));
    }
  }
}
