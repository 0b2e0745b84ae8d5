/**
 * The federation core's refusals and term-trust metrics (runtime/node/federation/
 * trustMetrics.ts), read from the core at each scrape: counters follow the core's running
 * totals (never going back), strikes are per peer, chain fetches by direction and result.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { ChainFetchCounts } from "../../../src/federation/trust/termFetch.js";
import {
  registerTrustMetrics,
  type TrustSource,
} from "../../../src/runtime/node/federation/trustMetrics.js";

class FakeCore implements TrustSource {
  readonly refused = new Map<string, number>();
  readonly strikeCounts = new Map<string, number>();
  readonly counts: ChainFetchCounts = { sent: 0, answered: 0, withheld: 0, rateLimited: 0 };
  readonly trust = {
    strikes: (d: string) => this.strikeCounts.get(d) ?? 0,
    struck: () => [...this.strikeCounts.keys()],
    fetches: this.counts,
    holding: 0,
  };
}

async function value(r: Registry, name: string, labels: Record<string, string> = {}) {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) =>
    Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l),
  );
  return v?.value;
}

describe("term-trust metrics", () => {
  it("export the core's refusals by code, strikes per peer and chain fetches, at each scrape", async () => {
    const core = new FakeCore();
    const r = new Registry();
    registerTrustMetrics(r, core);
    core.refused.set("UNVERIFIED_TERM", 2);
    core.strikeCounts.set("b.example", 2);
    Object.assign(core.counts, { sent: 3, answered: 1, withheld: 4, rateLimited: 5 });
    const name = "kalandra_federation_core_refusals_total";
    expect(await value(r, name, { code: "UNVERIFIED_TERM" })).toBe(2);
    expect(await value(r, "kalandra_federation_term_strikes", { peer: "b.example" })).toBe(2);
    const fetches = "kalandra_federation_term_chain_fetches_total";
    expect(await value(r, fetches, { direction: "sent", result: "sent" })).toBe(3);
    expect(await value(r, fetches, { direction: "received", result: "answered" })).toBe(1);
    expect(await value(r, fetches, { direction: "received", result: "withheld" })).toBe(4);
    expect(await value(r, fetches, { direction: "received", result: "rate_limited" })).toBe(5);

    // Totals grow between scrapes: the counters follow, without counting twice.
    core.refused.set("UNVERIFIED_TERM", 3);
    core.refused.set("UNKNOWN_ROOM", 1);
    core.strikeCounts.set("b.example", 3);
    core.counts.withheld = 6;
    expect(await value(r, name, { code: "UNVERIFIED_TERM" })).toBe(3);
    expect(await value(r, name, { code: "UNKNOWN_ROOM" })).toBe(1);
    expect(await value(r, "kalandra_federation_term_strikes", { peer: "b.example" })).toBe(3);
    expect(await value(r, fetches, { direction: "received", result: "withheld" })).toBe(6);
    expect(await value(r, fetches, { direction: "sent", result: "sent" })).toBe(3);
    const text = await r.metrics();
    expect(text).toContain(
      'kalandra_federation_term_chain_fetches_total{direction="received",result="withheld"} 6',
    );
    expect(text).toContain("kalandra_federation_term_frames_held 0");
  });
});
