/**
 * A federation world (DESIGN §11, issue 18): 2–5 hubs, each with its own simulated disk and
 * local writers, sharing one room whose authority is the real `RoomAuthorityEngine` engine,
 * linked through the lossy network under the same faults as client links, plus clock skew,
 * hub crashes and partitions between hubs. The world records what the invariants need:
 * which hub accepted writes in which term, which certificate each hub adopted per term,
 * every acknowledged write, and what each hub served its devices.
 */
import type { AckQuorum, LogEntry } from "@kalandra/server";
import { settleRealIo } from "../host.js";
import { SimNetwork } from "../network.js";
import { SeededRng } from "../rng.js";
import { Scheduler } from "../scheduler.js";
import { enterSimulation } from "../simSources.js";
import { Trace } from "../trace.js";
import type { Violation } from "../world.js";
import { FedHub } from "./fedHub.js";
import { applyFedPlan, type FedPlan } from "./fedPlan.js";

export interface FedWorldOptions {
  seed: bigint;
  hubs: number;
  writersPerHub: number;
  ackQuorum: AckQuorum;
  failoverAfterMs: number;
  maxSkewMs: number;
  canaries?: readonly string[];
  keepTrace?: boolean;
}

export class FedWorld {
  readonly rng: SeededRng;
  readonly trace: Trace;
  readonly scheduler: Scheduler;
  readonly network: SimNetwork;
  readonly hubs = new Map<string, FedHub>();
  /** Hub domains, ascending (the room's voters: every hub has a member device). */
  readonly names: readonly string[];
  readonly ackQuorum: AckQuorum;
  readonly failoverAfterMs: number;
  readonly maxSkewMs: number;
  readonly violations: Violation[] = [];
  /** Writers submit only while this is set (off once the workload is over). */
  writing = true;
  /** term → the hub that accepted writes in it. */
  readonly sequencers = new Map<bigint, string>();
  /** term → the proposal hash of the certificate a hub adopted for it. */
  readonly certificates = new Map<bigint, string>();
  /** request → the log index it was acknowledged at. */
  readonly acked = new Map<string, bigint>();
  /** Entries a hub served and later replaced (lost in "local" mode; a fork otherwise). */
  lostServed = 0;
  readonly notes: Record<string, number> = {};
  #release: (() => void) | undefined;

  constructor(readonly o: FedWorldOptions) {
    this.rng = new SeededRng(o.seed, "federation");
    this.trace = new Trace(o.keepTrace === true);
    this.scheduler = new Scheduler({
      rng: this.rng.fork("scheduler"),
      trace: this.trace,
      settle: settleRealIo,
    });
    this.network = new SimNetwork(this.scheduler, this.rng.fork("network"));
    this.ackQuorum = o.ackQuorum;
    this.failoverAfterMs = o.failoverAfterMs;
    this.maxSkewMs = o.maxSkewMs;
    this.names = Array.from({ length: o.hubs }, (_, i) => `h${i}.example`);
    for (const name of this.names) {
      this.hubs.set(
        name,
        new FedHub(this, name, this.rng.fork(name), this.names[0]!, o.writersPerHub),
      );
    }
  }

  static create(o: FedWorldOptions): FedWorld {
    const w = new FedWorld(o);
    w.#release = enterSimulation({
      nowMs: () => w.scheduler.now,
      rng: w.rng.fork("third-party"),
      violation: (i, d) => w.violation(i, d),
      canaries: o.canaries ?? [],
    });
    for (const h of w.hubs.values()) h.start();
    return w;
  }

  close(): void {
    this.#release?.();
    this.#release = undefined;
  }

  hub(name: string): FedHub {
    const h = this.hubs.get(name);
    if (h === undefined) throw new RangeError(`no hub ${name}`);
    return h;
  }

  violation(invariant: string, detail: string): void {
    this.violations.push({ invariant, detail, at: this.scheduler.now });
    this.trace.record(`VIOLATION ${invariant}: ${detail}`);
  }

  note(name: string, by = 1): void {
    this.notes[name] = (this.notes[name] ?? 0) + by;
  }

  at(delayMs: number, label: string, fn: () => void): void {
    this.scheduler.schedule(delayMs, "world", label, fn);
  }

  async runFor(ms: number): Promise<void> {
    await this.scheduler.run({ untilMs: this.scheduler.now + BigInt(ms) });
  }

  // ---- what the hubs report ------------------------------------------------------------

  /** At most one authority accepts writes per (room, term). */
  accepted(hub: string, term: bigint, request: string): void {
    const seen = this.sequencers.get(term);
    if (seen === undefined) this.sequencers.set(term, hub);
    else if (seen !== hub) {
      this.violation(
        "one_authority_per_term",
        `${seen} and ${hub} both accepted writes in term ${term} (${request})`,
      );
    }
  }

  audited(hub: string, kind: string, detail: Record<string, unknown>): void {
    this.trace.record(
      `${this.scheduler.now} ${hub} audit ${kind} ${JSON.stringify(detail, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`,
    );
    this.note(kind);
    if (kind !== "authority_transfer") return;
    const term = detail.term as bigint;
    const proposal = String(detail.proposal);
    const seen = this.certificates.get(term);
    if (seen === undefined) this.certificates.set(term, proposal);
    else if (seen !== proposal) {
      this.violation(
        "one_certificate_per_term",
        `two certificates for term ${term} (${hub} adopted ${proposal.slice(0, 12)}, another hub ${seen.slice(0, 12)})`,
      );
    }
  }

  ackedWrite(request: string, index: bigint): void {
    const before = this.acked.get(request);
    if (before !== undefined && before !== index) {
      this.violation("ack_unique", `${request} acknowledged at ${before} and at ${index}`);
    }
    this.acked.set(request, index);
  }

  reServed(hub: string, before: LogEntry, now: LogEntry): void {
    this.lostServed++;
    if (this.ackQuorum === "majority") {
      this.violation(
        "served_prefix",
        `${hub} served ${before.request} at ${before.index}, later ${now.request}`,
      );
    }
  }

  // ---- faults --------------------------------------------------------------------------

  applyPlan(plan: FedPlan): void {
    applyFedPlan(this, plan);
  }

  /** Power loss of hub `name`; it restarts after `downMs`. */
  crashHub(name: string, written: number, downMs: number): void {
    const hub = this.hub(name);
    if (!hub.up) return;
    hub.crash(written);
    this.at(downMs, `restart ${hub.name}`, () => hub.restart());
  }

  /** Heals every partition and link fault and restarts every crashed hub. */
  heal(): void {
    this.network.heal();
    for (const h of this.hubs.values()) if (!h.up) h.restart();
  }
}
