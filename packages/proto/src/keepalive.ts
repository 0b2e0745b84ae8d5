/**
 * Keep-alive of one connection, the same rule on both ends (docs/protocol.md "Keep-alive"):
 * whatever arrives from the peer counts as a sign of life (`heard`); after `intervalMs`
 * without one, PING (again every `intervalMs` while the silence lasts); after `timeoutMs`
 * without one, the peer is declared dead (`dead`). The hub closes such a session, the
 * client drops the connection and reconnects.
 *
 * One one-shot timer per connection, re-armed only when it fires (never per frame): a busy
 * connection costs a clock read per received chunk, an idle one a wake-up per interval.
 * Time and timers are injected (DESIGN §2), so the simulation runs this on its virtual clock.
 *
 * @example
 * const ka = new Keepalive({ intervalMs: 45_000, timeoutMs: 120_000 },
 *   { clock, timers, ping: () => sendPing(), dead: () => reconnect() });
 * ka.start(); // on every frame received: ka.heard(); on close: ka.stop()
 */
import type { Clock, TimerHandle, Timers } from "./runtime.js";

export interface KeepaliveOptions {
  /** Silence after which a PING goes out (ms); 0 = never ping. */
  intervalMs: number;
  /** Silence after which the peer is dead (ms); 0 = never. */
  timeoutMs: number;
}

export interface KeepaliveDeps {
  clock: Clock;
  timers: Timers;
  /** Send a PING now. */
  ping(): void;
  /** Nothing heard for `silentMs` (≥ timeoutMs); the keep-alive has stopped. */
  dead(silentMs: number): void;
}

export class Keepalive {
  #o: KeepaliveOptions;
  readonly #d: KeepaliveDeps;
  #lastHeard = 0n;
  /** When the last PING of this silence went out; undefined = none yet. */
  #lastPing: bigint | undefined;
  #timer: TimerHandle | undefined;

  constructor(o: KeepaliveOptions, d: KeepaliveDeps) {
    this.#o = o;
    this.#d = d;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts (or restarts) watching, counting the silence from now. */
  start(): void {
    this.stop();
    this.heard();
    this.#arm(this.#nextLook(0));
  }

  /** Something arrived from the peer. */
  heard(): void {
    this.#lastHeard = this.#d.clock.now();
    this.#lastPing = undefined;
  }

  stop(): void {
    if (this.#timer !== undefined) this.#d.timers.clear(this.#timer);
    this.#timer = undefined;
  }

  /** New intervals (SIGHUP); they apply from the next look. */
  reconfigure(o: KeepaliveOptions): void {
    this.#o = o;
  }

  #arm(ms: number | undefined): void {
    this.#timer = ms === undefined ? undefined : this.#d.timers.set(ms, () => this.#look());
  }

  #look(): void {
    this.#timer = undefined;
    const now = this.#d.clock.now();
    // A wall clock stepped backwards counts as no silence, never as a long one.
    const silent = now > this.#lastHeard ? Number(now - this.#lastHeard) : 0;
    const { intervalMs, timeoutMs } = this.#o;
    if (timeoutMs > 0 && silent >= timeoutMs) {
      this.#d.dead(silent);
      return;
    }
    const sincePing = this.#lastPing === undefined ? silent : Number(now - this.#lastPing);
    if (intervalMs > 0 && silent >= intervalMs && sincePing >= intervalMs) {
      this.#lastPing = now;
      this.#d.ping();
    }
    this.#arm(this.#nextLook(silent));
  }

  /** Time until the silence reaches the next PING or the timeout; undefined = both off. */
  #nextLook(silent: number): number | undefined {
    const { intervalMs, timeoutMs } = this.#o;
    let next = Number.POSITIVE_INFINITY;
    if (intervalMs > 0) {
      const last =
        this.#lastPing === undefined ? undefined : Number(this.#lastPing - this.#lastHeard);
      next = (last === undefined ? intervalMs : last + intervalMs) - silent;
    }
    if (timeoutMs > 0) next = Math.min(next, timeoutMs - silent);
    return Number.isFinite(next) ? Math.max(1, next) : undefined;
  }
}
