/**
 * A virtual clock and timer queue (DESIGN §2: time is injected): time moves only when the
 * test calls `advance`, and due timers fire in time order. Structurally `Clock` and
 * `Timers` of @kalandra/proto.
 */
export interface ManualTimerHandle {
  readonly id: number;
}

export class ManualTime {
  #t: bigint;
  #seq = 1;
  readonly #queue = new Map<number, { at: bigint; fn: () => void }>();

  /** `startMs`: the epoch ms the clock starts at. */
  constructor(startMs = 1_700_000_000_000n) {
    this.#t = startMs;
  }

  now(): bigint {
    return this.#t;
  }

  set(delayMs: number, fn: () => void): ManualTimerHandle {
    const id = this.#seq++;
    this.#queue.set(id, { at: this.#t + BigInt(Math.max(0, Math.ceil(delayMs))), fn });
    return { id };
  }

  clear(h: ManualTimerHandle): void {
    this.#queue.delete(h.id);
  }

  get pendingTimers(): number {
    return this.#queue.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.#t + BigInt(ms);
    for (;;) {
      let next: [number, { at: bigint; fn: () => void }] | undefined;
      for (const e of this.#queue)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.#queue.delete(next[0]);
      this.#t = next[1].at;
      next[1].fn();
    }
    this.#t = end;
  }

  /** Sets the wall clock (it may go backwards; pending timers keep their due times). */
  setNow(ms: bigint): void {
    this.#t = ms;
  }
}
