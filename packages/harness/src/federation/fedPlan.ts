/**
 * Fault plans of the federation worlds: the same link faults as client links (loss,
 * duplication, reordering, latency, late replays) on every hub-to-hub link, clock skew
 * between hubs, hub crashes (power loss with `written` buffered writes surviving) and
 * partitions that cut a group of hubs off from the rest (both ways or one way). Plain
 * JSON drawn by fast-check from the seed, like the single-hub plans (faults.ts).
 */
import fc from "fast-check";
import { fcSeed, linkArbitraries, prob } from "../faults.js";
import { type LinkFaults, PERFECT_LINK, type SimNetwork } from "../network.js";

export type FedFaultEvent =
  | { kind: "hubCrash"; at: number; hub: number; written: number; downMs: number }
  | { kind: "partition"; at: number; group: number[]; durationMs: number; oneWay: 0 | 1 | 2 }
  | { kind: "replayOld"; at: number; count: number };

export interface FedPlan {
  hubs: number;
  loss: number;
  duplicate: number;
  reorder: number;
  lateReplay: number;
  latencyMs: number;
  jitterMs: number;
  maxSkewMs: number;
  events: FedFaultEvent[];
}

export interface FedPlanSpec {
  chaosMs: number;
  minHubs: number;
  maxHubs: number;
  kinds: readonly ("network" | FedFaultEvent["kind"])[];
  maxLoss?: number;
  maxEvents?: number;
  maxDownMs?: number;
}

export function fedPlanArbitrary(spec: FedPlanSpec): fc.Arbitrary<FedPlan> {
  return fc.integer({ min: spec.minHubs, max: spec.maxHubs }).chain((hubs) => {
    const at = fc.integer({ min: 0, max: Math.max(0, spec.chaosMs - 1) });
    const hub = fc.integer({ min: 0, max: hubs - 1 });
    const events: fc.Arbitrary<FedFaultEvent>[] = [];
    if (spec.kinds.includes("hubCrash")) {
      events.push(
        fc.record({
          kind: fc.constant("hubCrash" as const),
          at,
          hub,
          written: fc.integer({ min: 0, max: 6 }),
          downMs: fc.integer({ min: 10, max: spec.maxDownMs ?? 4000 }),
        }),
      );
    }
    if (spec.kinds.includes("partition")) {
      events.push(
        fc.record({
          kind: fc.constant("partition" as const),
          at,
          group: fc.uniqueArray(hub, { minLength: 1, maxLength: Math.max(1, hubs - 1) }),
          durationMs: fc.integer({ min: 100, max: 8000 }),
          oneWay: fc.constantFrom(0 as const, 1 as const, 2 as const),
        }),
      );
    }
    if (spec.kinds.includes("replayOld")) {
      events.push(
        fc.record({
          kind: fc.constant("replayOld" as const),
          at,
          count: fc.integer({ min: 1, max: 20 }),
        }),
      );
    }
    const network = spec.kinds.includes("network");
    return fc.record({
      hubs: fc.constant(hubs),
      loss: network ? prob(spec.maxLoss ?? 0.3) : fc.constant(0),
      ...linkArbitraries(network, 40),
      maxSkewMs: fc.integer({ min: 0, max: 2000 }),
      events:
        events.length === 0
          ? fc.constant([])
          : fc
              .array(fc.oneof(...events), { maxLength: spec.maxEvents ?? 5 })
              .map((es) => [...es].sort((a, b) => a.at - b.at)),
    });
  });
}

/** The plan a seed runs with (the first value fast-check generates from that seed). */
export function fedPlanFor(spec: FedPlanSpec, seed: bigint): FedPlan {
  const [plan] = fc.sample(fedPlanArbitrary(spec), { seed: fcSeed(seed), numRuns: 1 });
  if (plan === undefined) throw new RangeError("no plan");
  return plan;
}

/** The link faults of a plan, on every hub-to-hub link. */
export function planLinkFaults(plan: FedPlan): LinkFaults {
  const { loss, duplicate, reorder, lateReplay, latencyMs, jitterMs } = plan;
  return { ...PERFECT_LINK, loss, duplicate, reorder, lateReplay, latencyMs, jitterMs };
}

/** A federation world as a plan's faults act on it: hubs by name, the network, the queue. */
export interface FedFaultTarget {
  readonly names: readonly string[];
  readonly network: SimNetwork;
  at(delayMs: number, label: string, fn: () => void | Promise<void>): void;
  /** Power loss of hub `name` (`written` buffered writes survive); back after `downMs`. */
  crashHub(name: string, written: number, downMs: number): void | Promise<void>;
}

/** Sets the plan's link faults between the hubs and schedules its events. */
export function applyFedPlan(w: FedFaultTarget, plan: FedPlan): void {
  const faults = planLinkFaults(plan);
  for (const a of w.names) for (const b of w.names) if (a !== b) w.network.setLink(a, b, faults);
  for (const e of plan.events) {
    switch (e.kind) {
      case "hubCrash": {
        const name = w.names[e.hub % w.names.length]!;
        w.at(e.at, `fault crash ${name}`, () => w.crashHub(name, e.written, e.downMs));
        break;
      }
      case "partition": {
        const group = [...new Set(e.group.map((i) => w.names[i % w.names.length]!))];
        const rest = w.names.filter((n) => !group.includes(n));
        if (rest.length === 0) break;
        const [a, b] = e.oneWay === 2 ? [rest, group] : [group, rest];
        w.at(e.at, `fault partition ${group.join(",")}`, () => {
          w.network.partition(a, b, e.oneWay === 0);
          w.at(e.durationMs, `heal partition ${group.join(",")}`, () =>
            w.network.unpartition(a, b, e.oneWay === 0),
          );
        });
        break;
      }
      case "replayOld":
        w.at(e.at, "fault replay", () => w.network.replayOld(e.count));
        break;
    }
  }
}
