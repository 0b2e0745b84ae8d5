/**
 * Waiting for a condition without sleeping blindly: on virtual time (`pollUntil`, the clock
 * advances step by step) or, in integration tests against real processes, on real time
 * with a bounded timeout (`waitUntil`, `within`). Each fails loudly, naming what it waited
 * for and what it saw.
 */

/** Anything that moves virtual time forward (`ManualTime`, a simulation scheduler). */
export interface VirtualClock {
  advance(ms: number): void | Promise<void>;
}

export interface PollOptions {
  /** Virtual ms per step (default 10). */
  stepMs?: number;
  /** Virtual ms after which to give up (default 60_000). */
  maxMs?: number;
  /** Describes the state seen, for the failure message. */
  state?: () => string;
}

/** Lets pending promise callbacks and immediates run (no timers: time stands still). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Advances `clock` by `stepMs` until `cond` holds; throws once `maxMs` virtual ms passed.
 * @example await pollUntil(() => sent.length === 2, time, "two resends", { stepMs: 100 });
 */
export async function pollUntil(
  cond: () => boolean,
  clock: VirtualClock,
  what: string,
  opts: PollOptions = {},
): Promise<void> {
  const step = opts.stepMs ?? 10;
  const max = opts.maxMs ?? 60_000;
  await settle();
  for (let waited = 0; !cond(); waited += step) {
    if (waited >= max)
      throw new Error(`not reached after ${max} virtual ms: ${describe(what, opts)}`);
    await clock.advance(step);
    await settle();
  }
}

export interface WaitOptions {
  /** Real ms after which to give up (default 30_000). */
  timeoutMs?: number;
  /** Real ms between checks (default 10). */
  intervalMs?: number;
  state?: () => string;
}

/**
 * Polls `cond` on real time until it holds; throws after `timeoutMs`.
 * @example await waitUntil(() => bob.texts(room).length === 1, "bob receives the message");
 */
export async function waitUntil(
  cond: () => boolean,
  what: string,
  opts: WaitOptions = {},
): Promise<void> {
  const timeout = opts.timeoutMs ?? 30_000;
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeout)
      throw new Error(`timed out after ${timeout} ms waiting for ${describe(what, opts)}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}

/**
 * Resolves as `p` does, or rejects after `timeoutMs` of real time naming `what`.
 * @example const logIndex = await within(client.send(room, msg), 5_000, "send resolves");
 */
export function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describe(what: string, opts: { state?: () => string }): string {
  return opts.state === undefined ? what : `${what} (saw ${opts.state()})`;
}
