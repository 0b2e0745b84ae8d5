/**
 * Hybrid logical clock for the sequencer's `hlc_timestamp` (DESIGN §3, §4).
 *
 * A stamp is a u64: the high 48 bits are wall-clock milliseconds since the Unix epoch
 * (enough until the year 10889), the low 16 bits a counter that orders stamps taken
 * within one millisecond or while the wall clock stands still or runs backwards.
 * Stamps issued by one clock are strictly increasing, whatever `Clock.now()` does:
 * if the wall clock goes back, the clock keeps its last millisecond and counts up;
 * when the counter would overflow it borrows the next millisecond.
 */
import { type Clock, canary } from "@kalandra/proto";

export const HLC_COUNTER_BITS = 16n;
const COUNTER_MASK = (1n << HLC_COUNTER_BITS) - 1n;
const MS_MAX = (1n << 48n) - 1n;

/** Splits a stamp into its wall-clock milliseconds and counter. */
export function hlcParts(stamp: bigint): { ms: bigint; counter: number } {
  return { ms: stamp >> HLC_COUNTER_BITS, counter: Number(stamp & COUNTER_MASK) };
}

/** Builds a stamp from milliseconds and a counter (0..65535). */
export function hlcStamp(ms: bigint, counter: number): bigint {
  if (ms < 0n || ms > MS_MAX) throw new RangeError('"ms" expected a 48-bit unsigned integer');
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffff) {
    throw new RangeError('"counter" expected an integer in 0..65535');
  }
  return (ms << HLC_COUNTER_BITS) | BigInt(counter);
}

export class HybridLogicalClock {
  private last: bigint;

  /** `floor` is the last stamp ever issued (e.g. read back from storage after a restart). */
  constructor(
    private readonly clock: Clock,
    floor = 0n,
  ) {
    this.last = floor;
  }

  /** The next stamp: strictly greater than every stamp issued or observed before. */
  next(): bigint {
    let wall = this.clock.now();
    if (wall < 0n) wall = 0n;
    if (wall > MS_MAX) wall = MS_MAX;
    const candidate = wall << HLC_COUNTER_BITS;
    // Either the wall clock moved past our last stamp, or we count up from it
    // (which also carries into the millisecond when the counter is full).
    this.last = candidate > this.last ? candidate : this.last + 1n;
    // Simulation-only planted bug (DESIGN §8): trust the wall clock alone.
    if (canary("hlc_backwards")) this.last = candidate;
    return this.last;
  }

  /** Raises the floor to a stamp seen elsewhere (restored log head, federated frame). */
  observe(stamp: bigint): void {
    if (stamp > this.last) this.last = stamp;
  }

  /** The last stamp issued or observed. */
  peek(): bigint {
    return this.last;
  }
}
