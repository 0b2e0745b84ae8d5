/**
 * Replay protection of relayed envelopes at their destination (onward relay, docs/federation.md
 * "Onward relay"): a relayed envelope is believed once, and only while its origin time
 * (`forwarded_at`, covered by `origin_sig`) is within the replay window of this hub's clock.
 *
 * The memory is bounded (`max` origin signatures). A signature is kept until its origin time
 * leaves the window (then the window check refuses a replay of it). When the memory is full
 * the oldest-arrived signature is forgotten early, and its origin's floor rises to that
 * signature's origin time: an envelope of that origin at or below its floor is refused as a
 * replay. So a full memory shrinks the window of an origin (at any rate of envelopes), it
 * never lets a replay through. An origin seals with its clock, so its envelopes arrive with
 * rising times (one via, ordered links); a legitimate envelope refused by a floor would need
 * the origin's clock to step back while the memory is full, or more than `max` envelopes
 * arriving within one millisecond of its origin time.
 */

/** How long a relayed envelope's origin time stays acceptable (and is remembered), ms. */
export const RELAY_REPLAY_WINDOW_MS = 300_000n;
/** The most origin signatures remembered; beyond it the oldest are forgotten first. */
export const MAX_REMEMBERED = 65_536;

export class ReplayMemory {
  /** Origin signatures believed, in order of arrival, with their origin and origin time. */
  private readonly seen = new Map<string, { origin: string; at: bigint }>();
  /** Per origin: the latest origin time of a signature forgotten inside the window. */
  private readonly floors = new Map<string, bigint>();

  constructor(
    private readonly window: bigint = RELAY_REPLAY_WINDOW_MS,
    private readonly max: number = MAX_REMEMBERED,
  ) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`"max" ${max} below 1`);
  }

  /** How many signatures are remembered, and how many origins have a floor (metrics, tests). */
  get size(): { signatures: number; floors: number } {
    return { signatures: this.seen.size, floors: this.floors.size };
  }

  /**
   * True when an envelope of `origin` signed `sig` at origin time `at` is fresh at `now`
   * (then it is remembered); false for a replay or a time outside the window.
   */
  fresh(origin: string, sig: Uint8Array, at: bigint, now: bigint): boolean {
    const age = now - at;
    if (age > this.window || -age > this.window) return false;
    const floor = this.floors.get(origin);
    if (floor !== undefined && at <= floor) return false;
    const key = String.fromCharCode(...sig);
    if (this.seen.has(key)) return false;
    this.forget(now);
    this.seen.set(key, { origin, at });
    return true;
  }

  /** Makes room for one: drops what left the window, and the oldest arrivals while full. */
  private forget(now: bigint): void {
    for (const [key, e] of this.seen) {
      const inWindow = now - e.at <= this.window;
      if (inWindow && this.seen.size < this.max) break;
      if (inWindow) this.floors.set(e.origin, max(this.floors.get(e.origin), e.at));
      this.seen.delete(key);
    }
    // A floor that left the window refuses nothing the window check does not.
    for (const [origin, floor] of this.floors) {
      if (now - floor > this.window) this.floors.delete(origin);
    }
  }
}

function max(a: bigint | undefined, b: bigint): bigint {
  return a === undefined || b > a ? b : a;
}
