/**
 * Determinism guards (DESIGN §2): while a simulation runs, a core that reaches for
 * un-injected time, timers or entropy (`Date.now`, `new Date()`, `Math.random`,
 * `setTimeout`, `setInterval`, `crypto.getRandomValues`) throws. The check looks at the
 * caller's stack, so the harness, the test runner and third-party code called from outside
 * the cores keep working; only calls made on behalf of core code are refused.
 */
import { webcrypto } from "node:crypto";

/** Source folders of the cores; the Node runtime folders are allowed to use real I/O. */
const CORE_PATH = /[/\\]packages[/\\](server|client|proto)[/\\]src[/\\]/;
const RUNTIME_PATH =
  /[/\\]packages[/\\](server|client|proto)[/\\]src[/\\](runtime[/\\]node|transport|cli|config)[/\\]|[/\\]proto[/\\]src[/\\]runtime\.ts/;

export class DeterminismViolation extends Error {
  override readonly name = "DeterminismViolation";
}

let corePath = CORE_PATH;

function calledFromCore(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const frames = stack.split("\n").slice(3);
  const core = frames.find((f) => corePath.test(f));
  return core !== undefined && !RUNTIME_PATH.test(core);
}

let installed = 0;
let restore: (() => void) | undefined;

/**
 * Installs the guards (re-entrant: nested installs share one set); returns the function
 * that removes them.
 */
export function installDeterminismGuards(opts: { corePath?: RegExp } = {}): () => void {
  if (installed++ === 0) {
    corePath = opts.corePath ?? CORE_PATH;
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = {
      dateNow: Date.now,
      random: Math.random,
      setTimeout: g.setTimeout,
      setInterval: g.setInterval,
      getRandomValues: webcrypto.getRandomValues,
    };
    const refuse = (what: string) => {
      throw new DeterminismViolation(
        `${what} called from a core during simulation; inject Clock/Rng/Timers`,
      );
    };
    Date.now = () => (calledFromCore() ? refuse("Date.now") : saved.dateNow());
    Math.random = () => (calledFromCore() ? refuse("Math.random") : saved.random());
    g.setTimeout = (...args: unknown[]) =>
      calledFromCore()
        ? refuse("setTimeout")
        : (saved.setTimeout as (...a: unknown[]) => unknown)(...args);
    g.setInterval = (...args: unknown[]) =>
      calledFromCore()
        ? refuse("setInterval")
        : (saved.setInterval as (...a: unknown[]) => unknown)(...args);
    const grv = saved.getRandomValues;
    webcrypto.getRandomValues = ((array: never) =>
      calledFromCore()
        ? refuse("crypto.getRandomValues")
        : grv.call(webcrypto, array)) as typeof webcrypto.getRandomValues;
    if (globalThis.crypto !== undefined && globalThis.crypto !== webcrypto) {
      const gc = globalThis.crypto;
      const gGrv = gc.getRandomValues;
      gc.getRandomValues = ((array: never) =>
        calledFromCore()
          ? refuse("crypto.getRandomValues")
          : gGrv.call(gc, array)) as typeof gc.getRandomValues;
      const prev = restore;
      restore = () => {
        gc.getRandomValues = gGrv;
        prev?.();
      };
    }
    const restoreCrypto = restore;
    restore = () => {
      Date.now = saved.dateNow;
      Math.random = saved.random;
      g.setTimeout = saved.setTimeout;
      g.setInterval = saved.setInterval;
      webcrypto.getRandomValues = saved.getRandomValues;
      restoreCrypto?.();
    };
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--installed === 0) {
      restore?.();
      restore = undefined;
    }
  };
}
