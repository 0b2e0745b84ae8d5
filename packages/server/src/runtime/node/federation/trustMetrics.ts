/**
 * Prometheus metrics of the federation core's refusals and of term trust (docs/federation.md
 * "Metrics", issue 18 (f)), read from the core at each scrape (prom-client `collect`), so
 * nothing has to be pushed from the core (which does no I/O):
 *
 * - `kalandra_federation_core_refusals_total{code}`: peer frames the federation core refused,
 *   by error code (UNVERIFIED_TERM: a higher term no verifiable chain proved; UNKNOWN_ROOM
 *   includes chain fetches withheld from hubs outside the room). Codes are a closed set.
 * - `kalandra_federation_term_strikes{peer}`: strikes a peer has for unproven terms (at
 *   STRIKE_LIMIT its higher terms are dropped unasked for a while). Only configured peers
 *   reach the core, so the label set is bounded by the operator's peer list.
 * - `kalandra_federation_term_chain_fetches_total{direction,result}`: TERM_CHAIN_FETCH sent
 *   (`direction="sent"`, `result="sent"`) and received (`direction="received"`, `result` =
 *   `answered`, `withheld` (the asker is not named by the room: answered as an unknown
 *   room), `rate_limited`).
 * - `kalandra_federation_term_frames_held`: rooms with frames held while a chain is asked.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ChainFetchCounts } from "../../../federation/trust/termFetch.js";

/** What the metrics read of the federation core (`FederationCore` has it). */
export interface TrustSource {
  readonly refused: ReadonlyMap<string, number>;
  readonly trust: {
    strikes(domain: string): number;
    struck(): string[];
    readonly fetches: Readonly<ChainFetchCounts>;
    readonly holding: number;
  };
}

const FETCH_RESULTS: readonly [keyof ChainFetchCounts, "sent" | "received", string][] = [
  ["sent", "sent", "sent"],
  ["answered", "received", "answered"],
  ["withheld", "received", "withheld"],
  ["rateLimited", "received", "rate_limited"],
];

/** A counter that follows a running total read at scrape time (increments by the change). */
function follow<T extends string>(counter: Counter<T>, labels: Record<T, string>) {
  let seen = 0;
  return (total: number): void => {
    if (total > seen) counter.inc(labels, total - seen);
    seen = Math.max(seen, total);
  };
}

export function registerTrustMetrics(registry: Registry, source: TrustSource): void {
  const registers = [registry];
  const followers = new Map<string, (total: number) => void>();
  new Counter({
    name: "kalandra_federation_core_refusals_total",
    help: "Peer frames the federation core refused, by error code (UNVERIFIED_TERM: an unproven higher term)",
    labelNames: ["code"],
    registers,
    collect() {
      for (const [code, n] of source.refused) {
        let f = followers.get(code);
        if (f === undefined) {
          f = follow(this, { code });
          followers.set(code, f);
        }
        f(n);
      }
    },
  });
  new Gauge({
    name: "kalandra_federation_term_strikes",
    help: "Strikes a peer has for higher terms it did not prove (dropped unasked at the limit)",
    labelNames: ["peer"],
    registers,
    collect() {
      for (const peer of source.trust.struck()) this.set({ peer }, source.trust.strikes(peer));
    },
  });
  const fetches: ((c: Readonly<ChainFetchCounts>) => void)[] = [];
  new Counter({
    name: "kalandra_federation_term_chain_fetches_total",
    help: "TERM_CHAIN_FETCH sent, and received by result (answered, withheld: asker outside the room, rate_limited)",
    labelNames: ["direction", "result"],
    registers,
    collect() {
      if (fetches.length === 0) {
        for (const [key, direction, result] of FETCH_RESULTS) {
          const f = follow(this, { direction, result });
          fetches.push((c) => f(c[key]));
        }
      }
      for (const f of fetches) f(source.trust.fetches);
    },
  });
  new Gauge({
    name: "kalandra_federation_term_frames_held",
    help: "Rooms with frames held while their term's certificate chain is asked",
    registers,
    collect() {
      this.set(source.trust.holding);
    },
  });
}
