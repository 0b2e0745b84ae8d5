import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { registerRelayMetrics } from "../../../src/runtime/node/federation/relayMetrics.js";

describe("relay metrics", () => {
  it("follow the core's relayed count at each scrape", async () => {
    const registry = new Registry();
    const relay = { forwarded: 0 };
    registerRelayMetrics(registry, relay);
    const value = async () =>
      /kalandra_federation_frames_relayed_total (\d+)/.exec(await registry.metrics())?.[1];
    expect(await value()).toBe("0");
    relay.forwarded = 3;
    expect(await value()).toBe("3");
    relay.forwarded = 5;
    expect(await value()).toBe("5");
    expect(await value()).toBe("5");
  });
});
