/**
 * Determinism guards (DESIGN §2): while a simulation runs, a core that reaches for
 * un-injected time, timers or entropy (`Date.now`, `new Date()`, `Math.random`,
 * `setTimeout`, `setInterval`, `crypto.getRandomValues`) throws. The check looks at the
 * caller's stack, so the harness, the test runner and third-party code called from outside
 * the cores keep working; only calls made on behalf of core code are refused.
 */
import { webcrypto } from "node:crypto";

/**
 * Source folders of the cores; the Node runtime folders are allowed to use real I/O.
 */
const CORE_PATH = /[/\\]packages[/\\](server|client|proto)[/\\]src[/\\]/;
const RUNTIME_PATH =
  /[/\\]packages[/\\](server|client|proto)[/\\]src[/\\](runtime[/\\]node|transport|cli|config)[/\\]|[/\\]proto[/\\]src[/\\]runtime\.ts/;

const SELF = /[/\\]harness[/\\](src|dist)[/\\]guards\.[jt]s$/;

/**
 * Harness modules that act as a device themselves (the attacker builds key packages and
 * commits with ts-mls outside any client core): what they draw must be seeded like a core's.
 */
const ACTOR_PATH = /[/\\]harness[/\\](src|dist)[/\\]attacker\.[jt]s$/;

/** Third-party I/O libraries whose own timers never reach back into a core. */
const IO_LIBRARY = /[/\\]node_modules[/\\]lmdb[/\\]/;

export class DeterminismViolation extends Error {
  override readonly name = "DeterminismViolation";
}

let corePath = CORE_PATH;

/**
 * Where a guarded call comes from: "core" when core code called it directly, "under-core"
 * when a third-party library (ts-mls's key-package lifetime check and GREASE draws) called
 * it on behalf of a core, "outside" otherwise (harness, test runner).
 */
type Origin = "core" | "under-core" | "outside";

/** Raw call sites above `origin` (no source-map formatting of a stack string). */
function callSites(depth: number): NodeJS.CallSite[] {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = depth;
  Error.prepareStackTrace = (_e, sites) => sites;
  const holder: { stack?: unknown } = {};
  Error.captureStackTrace(holder, origin);
  const sites = holder.stack as NodeJS.CallSite[];
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = limit;
  return sites;
}

/**
 * Runs on every guarded call (ts-mls draws GREASE values one `Math.random()` at a time,
 * lmdb-js arms a timer on every read transaction), so it reads file names lazily and stops
 * at the first core frame instead of naming every frame of a 60-deep stack.
 */
function origin(): Origin {
  // Most verdicts are found near the top (lmdb-js's own timer, a core calling directly,
  // ts-mls a few frames under a core): a short stack first, the long one only if needed.
  return classify(callSites(16), 16) ?? classify(callSites(60), 60) ?? "outside";
}

/** The verdict of a captured stack; undefined when it was cut short before one was found. */
function classify(sites: NodeJS.CallSite[], depth: number): Origin | undefined {
  const cut = sites.length >= depth;
  // Skip the guard's own frames (wrappers, verdict): the next one is the direct caller.
  let i = 0;
  let file = "";
  for (; i < sites.length; i++) {
    file = sites[i]?.getFileName() ?? "";
    if (!SELF.test(file)) break;
  }
  if (i >= sites.length) return cut ? undefined : "outside";
  // lmdb-js renews its read transactions on a real timer: storage I/O, not a decision.
  if (IO_LIBRARY.test(file)) return "outside";
  const direct = i;
  for (; i < sites.length; i++) {
    if (i > direct) file = sites[i]?.getFileName() ?? "";
    if (ACTOR_PATH.test(file)) return i === direct ? "core" : "under-core";
    if (!corePath.test(file)) continue;
    if (RUNTIME_PATH.test(file)) return "outside";
    return i === direct ? "core" : "under-core";
  }
  return cut ? undefined : "outside";
}

/** "refuse", "seeded" (deterministic stand-in) or "real" for one guarded call. */
function verdict(): "refuse" | "seeded" | "real" {
  const o = origin();
  if (o === "core") return "refuse";
  if (o === "under-core") return sources === undefined ? "refuse" : "seeded";
  return "real";
}

/**
 * Deterministic stand-ins for what third-party code reads on behalf of a core during a
 * simulation (virtual time, seeded randomness), so the run replays byte for byte.
 */
export interface SimulationSources {
  nowMs(): number;
  random(): number;
  fill(array: Uint8Array): void;
  /** Told of every refused call (the world records a `determinism` violation). */
  refused?(what: string): void;
}

let sources: SimulationSources | undefined;

/** Sets (or clears) the sources that third-party calls made under a core receive. */
export function setSimulationSources(s: SimulationSources | undefined): void {
  sources = s;
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
      sources?.refused?.(what);
      throw new DeterminismViolation(
        `${what} called from a core during simulation; inject Clock/Rng/Timers`,
      );
    };
    // Time is stateless: while a simulation runs, everyone but the cores (refused) reads
    // virtual time, including library code whose async stack no longer shows the core
    // that called it (ts-mls checks key-package lifetimes against Date.now()).
    Date.now = () => {
      const o = origin();
      if (o === "core" || (o === "under-core" && sources === undefined)) {
        return refuse("Date.now");
      }
      return sources !== undefined ? sources.nowMs() : saved.dateNow();
    };
    Math.random = () => {
      const v = verdict();
      if (v === "refuse") return refuse("Math.random");
      return v === "seeded" ? (sources as SimulationSources).random() : saved.random();
    };
    // Timers have no deterministic stand-in: refused under a core whoever calls them.
    g.setTimeout = (...args: unknown[]) =>
      origin() !== "outside"
        ? refuse("setTimeout")
        : (saved.setTimeout as (...a: unknown[]) => unknown)(...args);
    g.setInterval = (...args: unknown[]) =>
      origin() !== "outside"
        ? refuse("setInterval")
        : (saved.setInterval as (...a: unknown[]) => unknown)(...args);
    const grv = saved.getRandomValues;
    const seeded = (array: never): never => {
      (sources as SimulationSources).fill(
        new Uint8Array(
          (array as ArrayBufferView).buffer,
          (array as ArrayBufferView).byteOffset,
          (array as ArrayBufferView).byteLength,
        ),
      );
      return array;
    };
    const pick = (array: never, real: () => never): never => {
      const v = verdict();
      if (v === "refuse") return refuse("crypto.getRandomValues");
      return v === "seeded" ? seeded(array) : real();
    };
    webcrypto.getRandomValues = ((array: never) =>
      pick(array, () => grv.call(webcrypto, array) as never)) as typeof webcrypto.getRandomValues;
    if (globalThis.crypto !== undefined && globalThis.crypto !== webcrypto) {
      const gc = globalThis.crypto;
      const gGrv = gc.getRandomValues;
      gc.getRandomValues = ((array: never) =>
        pick(array, () => gGrv.call(gc, array) as never)) as typeof gc.getRandomValues;
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
