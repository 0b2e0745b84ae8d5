/**
 * Running one scenario under one seed: build the world, set the scenario up on a perfect
 * network, let the chaos phase run with the seed's fault plan (safety invariants checked
 * every step of virtual time), heal, wait a bounded time for convergence (liveness), then
 * the final checks. Same seed and plan → same trace digest and same final-state digest.
 */
import { createHash } from "node:crypto";
import type { HubLimits } from "@kalandra/server";
import { applyPlan, type FaultPlan, type PlanSpec, planFor } from "./faults.js";
import { wallClockMs } from "./host.js";
import { awaitConvergence, checkErasures, checkSafety, hubLog } from "./invariants.js";
import type { SeededRng } from "./rng.js";
import { type Violation, World } from "./world.js";

/** What a scenario's hooks get. */
export interface ScenarioRun {
  w: World;
  plan: FaultPlan;
  /** The scenario's own stream (workload choices). */
  rng: SeededRng;
  names: readonly string[];
  room: bigint;
  /** Scenario notes that end up in the result (counts of what happened). */
  notes: Record<string, number>;
}

export interface Scenario {
  name: string;
  description: string;
  clients: number;
  /** Virtual ms of the chaos phase. */
  chaosMs: number;
  /** Bound on convergence after healing (virtual ms). */
  convergeMs: number;
  plan: Omit<PlanSpec, "chaosMs" | "clients">;
  hubLimits?: Partial<HubLimits>;
  syncIntervalMs?: number;
  /** Creates the room and whatever the scenario starts from (perfect network). */
  setup(r: ScenarioRun): Promise<void>;
  /** Schedules the chaos-phase workload (relative to now). */
  workload(r: ScenarioRun): void;
  /** Scenario-specific checks at the end (add violations with `r.w.violation`). */
  check?(r: ScenarioRun): void;
}

export function planSpec(s: Scenario): PlanSpec {
  return { ...s.plan, chaosMs: s.chaosMs, clients: s.clients };
}

export interface RunOptions {
  scenario: Scenario;
  seed: bigint;
  /** The fault plan; default the seed's own (`planFor`). */
  plan?: FaultPlan;
  canaries?: readonly string[];
  keepTrace?: boolean;
}

export interface RunResult {
  scenario: string;
  seed: string;
  plan: FaultPlan;
  canaries: string[];
  ok: boolean;
  violations: { invariant: string; detail: string; at: string }[];
  traceDigest: string;
  stateDigest: string;
  events: number;
  simulatedMs: number;
  wallMs: number;
  notes: Record<string, number>;
  trace?: readonly string[];
}

const CHECK_EVERY_MS = 2000;

export async function runScenario(o: RunOptions): Promise<RunResult> {
  const s = o.scenario;
  const plan = o.plan ?? planFor(planSpec(s), o.seed);
  const names = Array.from({ length: s.clients }, (_, i) => `u${i}`);
  const started = wallClockMs();
  const w = await World.create({
    seed: o.seed,
    clients: names,
    keepTrace: o.keepTrace === true,
    canaries: o.canaries ?? [],
    maxSkewMs: plan.maxSkewMs,
    ...(s.syncIntervalMs === undefined ? {} : { syncIntervalMs: s.syncIntervalMs }),
    ...(s.hubLimits === undefined ? {} : { hubLimits: s.hubLimits }),
  });
  const t0 = w.scheduler.now;
  const r: ScenarioRun = {
    w,
    plan,
    rng: w.rng.fork(`scenario-${s.name}`),
    names,
    room: 0n,
    notes: {},
  };
  let stateDigest = "";
  try {
    try {
      await w.startClients();
      await s.setup(r);
      applyPlan(w, plan, names);
      s.workload(r);
      for (let t = 0; t < s.chaosMs; t += CHECK_EVERY_MS) {
        await w.runFor(Math.min(CHECK_EVERY_MS, s.chaosMs - t));
        checkSafety(w, r.room);
      }
      w.heal();
      w.trace.record("heal");
      await awaitConvergence(w, r.room, s.convergeMs);
      checkSafety(w, r.room);
      checkErasures(w, w.erasures);
      s.check?.(r);
    } catch (e) {
      scenarioError(w, e);
    }
    stateDigest = digestState(w, r.room);
  } finally {
    await w.close();
  }
  return runResult(
    w,
    { ...o, scenario: s.name, plan },
    { stateDigest, t0, started, notes: r.notes },
  );
}

/** Each (invariant, detail) once, in the order first seen, with its time as text. */
/** What a run's world offers its result: the violations, the trace, the clock. */
export interface RunWorld {
  readonly violations: readonly Violation[];
  readonly trace: { digest(): string; lines(): readonly string[] };
  readonly scheduler: { readonly eventsRun: number; readonly now: bigint };
  violation(invariant: string, detail: string): void;
}

/** A scenario's step threw: recorded as the run's `scenario_error` violation. */
export function scenarioError(w: RunWorld, e: unknown): void {
  w.violation("scenario_error", e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

/** The result of one run of any world (single hub, federation engine, real hubs). */
export function runResult<P>(
  w: RunWorld,
  o: { scenario: string; seed: bigint; plan: P; canaries?: readonly string[]; keepTrace?: boolean },
  r: { stateDigest: string; t0: bigint; started: number; notes: Record<string, number> },
): Omit<RunResult, "plan"> & { plan: P } {
  const violations = dedupe(w.violations);
  return {
    scenario: o.scenario,
    seed: o.seed.toString(),
    plan: o.plan,
    canaries: [...(o.canaries ?? [])],
    ok: violations.length === 0,
    violations,
    traceDigest: w.trace.digest(),
    stateDigest: r.stateDigest,
    events: w.scheduler.eventsRun,
    simulatedMs: Number(w.scheduler.now - r.t0),
    wallMs: wallClockMs() - r.started,
    notes: r.notes,
    ...(o.keepTrace === true ? { trace: w.trace.lines() } : {}),
  };
}

export function dedupe(vs: readonly Violation[]): RunResult["violations"] {
  const seen = new Set<string>();
  const out: RunResult["violations"] = [];
  for (const v of vs) {
    const k = `${v.invariant}|${v.detail}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ invariant: v.invariant, detail: v.detail, at: v.at.toString() });
  }
  return out;
}

/** SHA-256 over the hub's durable log and room state and every client's view of the room. */
export function digestState(w: World, roomId: bigint): string {
  const h = createHash("sha256");
  for (const f of hubLog(w, roomId)) {
    h.update(f.header);
    h.update(f.payload ?? new Uint8Array([0]));
  }
  const room = w.hub.room(roomId);
  if (room !== undefined)
    h.update(`hub ${room.epoch} ${Buffer.from(room.treeHash).toString("hex")}`);
  for (const c of w.clients.values()) {
    const v = c.client?.room(roomId);
    h.update(
      `${c.name} ${v?.phase.kind} ${v?.epoch} ${v?.nextLogIndex} ${v?.members.join(",")} ${
        v?.treeHash === undefined ? "" : Buffer.from(v.treeHash).toString("hex")
      }`,
    );
    for (const d of c.delivered.get(roomId)?.values() ?? []) h.update(`${d.logIndex}=${d.text}`);
  }
  return h.digest("hex");
}

/** The one command that replays a run. */
export function replayCommand(r: Pick<RunResult, "seed" | "scenario" | "canaries">): string {
  const canaries = r.canaries.length > 0 ? ` --canary ${r.canaries.join(",")}` : "";
  return `pnpm sim --seed ${r.seed} --scenario ${r.scenario}${canaries}`;
}
