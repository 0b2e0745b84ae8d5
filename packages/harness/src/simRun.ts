/**
 * What every simulated world shares (the single hub's, world.ts, and the federation's with
 * real hubs, federation/hubWorld.ts): one seed, one scheduler (virtual time, one event
 * queue, settling after each event), one trace, the violations found, and the ways to run
 * work on the queue.
 */
import { settleRealIo } from "./host.js";
import { SeededRng } from "./rng.js";
import { Scheduler } from "./scheduler.js";
import { Trace } from "./trace.js";

export interface Violation {
  invariant: string;
  detail: string;
  at: bigint;
}

export class SimRun {
  readonly rng: SeededRng;
  readonly trace: Trace;
  readonly scheduler: Scheduler;
  readonly violations: Violation[] = [];

  constructor(
    readonly seed: bigint,
    keepTrace: boolean,
  ) {
    this.rng = new SeededRng(seed);
    this.trace = new Trace(keepTrace);
    this.scheduler = new Scheduler({
      rng: this.rng.fork("scheduler"),
      trace: this.trace,
      settle: settleRealIo,
    });
  }

  get now(): bigint {
    return this.scheduler.now;
  }

  violation(invariant: string, detail: string): void {
    this.violations.push({ invariant, detail, at: this.scheduler.now });
    this.trace.record(`VIOLATION ${invariant}: ${detail}`);
  }

  /** Runs the event queue until virtual time `untilMs` from the start of the run. */
  async runFor(ms: number, stop?: () => boolean): Promise<void> {
    await this.scheduler.run({
      untilMs: this.scheduler.now + BigInt(ms),
      ...(stop === undefined ? {} : { stop }),
    });
  }

  /** Schedules a harness action `delayMs` from now (it must not wait for other events). */
  at(delayMs: number, label: string, fn: () => void | Promise<void>): void {
    this.scheduler.schedule(delayMs, "harness", label, fn);
  }

  /**
   * Starts `fn` in an event and runs the simulation until it settles (at most `budgetMs`
   * of virtual time). For setup steps; throws what `fn` threw.
   */
  async perform<T>(label: string, fn: () => Promise<T>, budgetMs = 120_000): Promise<T> {
    let done = false;
    let result: T | undefined;
    let error: unknown;
    this.at(0, label, () => {
      fn().then(
        (r) => {
          done = true;
          result = r;
        },
        (e: unknown) => {
          done = true;
          error = e;
        },
      );
    });
    await this.runFor(budgetMs, () => done);
    if (!done) throw new Error(`${label}: not done within ${budgetMs} virtual ms`);
    if (error !== undefined) throw error;
    return result as T;
  }

  /** Starts an operation without waiting; `onDone` sees its outcome. */
  fire<T>(label: string, fn: () => Promise<T>, onDone?: (ok: boolean, v: unknown) => void): void {
    this.at(0, label, () => {
      let p: Promise<T>;
      try {
        p = fn();
      } catch (e) {
        onDone?.(false, e);
        return;
      }
      p.then(
        (v) => onDone?.(true, v),
        (e: unknown) => onDone?.(false, e),
      );
    });
  }
}
