/**
 * Virtual time and the single event queue of a simulation. Every timer a core sets goes
 * through `timersFor(node)`, every message delivery through `schedule`, so simulated time
 * jumps from event to event as fast as the CPU allows. Ties at the same instant are broken
 * by a seeded draw, which makes scheduling choices part of what a seed explores.
 */
import type { Clock, Rng, TimerHandle, Timers } from "@kalandra/proto";
import type { Trace } from "./trace.js";

type Action = () => void | Promise<void>;

interface SimEvent {
  at: bigint;
  tie: number;
  seq: number;
  label: string;
  node: string;
  action: Action;
}

/** Thrown when a run exceeds its budget of events or virtual time. */
export class SimulationBudgetError extends Error {
  override readonly name = "SimulationBudgetError";
}

export interface SchedulerOptions {
  rng: { int(max: number): number };
  trace: Trace;
  /** Virtual start time (ms since the Unix epoch); a fixed date keeps traces stable. */
  startMs?: bigint;
  /**
   * Awaited after every event, before the next one is chosen: the simulation drains
   * microtasks and in-flight storage work here, so nothing an event started can finish
   * "during" a later event in an order that depends on real time.
   */
  settle?: () => Promise<void>;
}

export class Scheduler {
  #now: bigint;
  #seq = 0;
  readonly #heap: SimEvent[] = [];
  readonly #cancelled = new Set<number>();
  readonly #rng: { int(max: number): number };
  readonly #settle: (() => Promise<void>) | undefined;
  readonly trace: Trace;
  /** Nodes whose timers are suspended (crashed): their events are dropped when due. */
  readonly #downNodes = new Set<string>();
  /** Bumped on crash so timers set before the crash never fire after a restart. */
  readonly #incarnation = new Map<string, number>();
  eventsRun = 0;

  constructor(opts: SchedulerOptions) {
    this.#now = opts.startMs ?? 1_767_225_600_000n; // 2026-01-01T00:00:00Z
    this.#rng = opts.rng;
    this.#settle = opts.settle;
    this.trace = opts.trace;
  }

  get now(): bigint {
    return this.#now;
  }

  get pending(): number {
    return this.#heap.length - this.#cancelled.size;
  }

  /** Schedules `action` after `delayMs` of virtual time; returns an id for `cancel`. */
  schedule(delayMs: number, node: string, label: string, action: Action): number {
    const delay = Math.max(0, Math.floor(delayMs));
    const ev: SimEvent = {
      at: this.#now + BigInt(delay),
      tie: this.#rng.int(1 << 30),
      seq: this.#seq++,
      label,
      node,
      action,
    };
    this.#push(ev);
    return ev.seq;
  }

  cancel(id: number): void {
    this.#cancelled.add(id);
  }

  /** A node's clock: virtual time plus a fixed skew (clock skew between nodes is a fault). */
  clockFor(skewMs: () => number): Clock {
    return { now: () => this.#now + BigInt(Math.trunc(skewMs())) };
  }

  /** A node's timers; they die with the node's incarnation (crash drops them). */
  timersFor(node: string): Timers {
    const incarnation = this.#incarnation.get(node) ?? 0;
    return {
      set: (delayMs: number, fn: () => void): TimerHandle => {
        const id = this.schedule(delayMs, node, "timer", () => {
          if ((this.#incarnation.get(node) ?? 0) === incarnation) fn();
        });
        return { id };
      },
      clear: (handle: TimerHandle) => this.cancel(handle.id),
    };
  }

  /** Marks a node crashed: its pending timers will never fire. */
  crash(node: string): void {
    this.#incarnation.set(node, (this.#incarnation.get(node) ?? 0) + 1);
    this.#downNodes.add(node);
  }

  restart(node: string): void {
    this.#downNodes.delete(node);
  }

  isDown(node: string): boolean {
    return this.#downNodes.has(node);
  }

  /**
   * Runs events in order until the queue is empty, `until` virtual ms is reached, or
   * `stop()` says so. Each event's returned promise is awaited before the next event,
   * so asynchronous cores settle deterministically.
   */
  async run(opts: { untilMs?: bigint; maxEvents?: number; stop?: () => boolean }): Promise<void> {
    const maxEvents = opts.maxEvents ?? 5_000_000;
    while (this.#heap.length > 0) {
      if (opts.stop?.()) return;
      const next = this.#heap[0]!;
      if (opts.untilMs !== undefined && next.at > opts.untilMs) break;
      this.#pop();
      if (this.#cancelled.delete(next.seq)) continue;
      if (next.at > this.#now) this.#now = next.at;
      if (this.#downNodes.has(next.node)) continue;
      if (++this.eventsRun > maxEvents) {
        throw new SimulationBudgetError(`more than ${maxEvents} events`);
      }
      this.trace.record(`${this.#now} ${next.node} ${next.label}`);
      await next.action();
      if (this.#settle !== undefined) await this.#settle();
    }
    if (opts.untilMs !== undefined && opts.untilMs > this.#now) this.#now = opts.untilMs;
  }

  #less(a: SimEvent, b: SimEvent): boolean {
    if (a.at !== b.at) return a.at < b.at;
    if (a.tie !== b.tie) return a.tie < b.tie;
    return a.seq < b.seq;
  }

  #push(ev: SimEvent): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

export type { Rng };
