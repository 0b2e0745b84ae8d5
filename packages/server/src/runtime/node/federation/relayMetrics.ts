/**
 * Prometheus metric of onward relay (docs/federation.md "Onward relay"), read from the
 * federation core at each scrape (prom-client `collect`), so the core pushes nothing:
 *
 * - `kalandra_federation_frames_relayed_total`: envelopes this hub passed on between two
 *   other hubs (their origin and destination are peers of this hub; no per-peer label, the
 *   runtime's `frames_forwarded_total{peer}` counts them per link already).
 *
 * What the core refused (TOO_MANY_HOPS, REPLAYED_ENVELOPE, …) it counts by code with every
 * other refusal of a peer's frame.
 */
import { Counter, type Registry } from "prom-client";

/** What the metric reads of the federation core (`FederationCore.relay` has it). */
export interface RelaySource {
  readonly forwarded: number;
}

export function registerRelayMetrics(registry: Registry, relay: RelaySource): void {
  let seen = 0;
  new Counter({
    name: "kalandra_federation_frames_relayed_total",
    help: "Envelopes this hub relayed between two other hubs (onward relay)",
    registers: [registry],
    collect() {
      if (relay.forwarded > seen) this.inc(relay.forwarded - seen);
      seen = Math.max(seen, relay.forwarded);
    },
  });
}
