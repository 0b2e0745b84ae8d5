/**
 * Issue 18, real processes: three kalandrad hubs on loopback federating (docs/federation.md).
 * Each lists the other two as peers with pinned hub keys and requires them for readiness;
 * every pair links (the lower domain dials), /readyz turns 200 once all links are up and
 * /metrics shows them. SIGKILL of one hub: the others' links go down and their /readyz
 * names `peer_links`; the killed hub restarted on its data directory is redialed (or redials)
 * and every hub is ready again.
 */
import { describe, expect, it } from "vitest";
import { federationForFile } from "./federation.js";

const federation = federationForFile("e2e-federation-links");
const DOMAINS = ["a.example", "b.example", "c.example"] as const;

describe("three kalandrad processes federating", () => {
  it("link every pair, see a SIGKILLed hub go down and come back", async () => {
    const f = await federation.create(DOMAINS, { requirePeers: true });
    for (const d of DOMAINS) await f.start(d);
    for (const d of DOMAINS) await f.readyzUntil(d, 200, "all links up");
    const metrics = await f.metrics("a.example");
    expect(metrics).toMatch(/kalandra_federation_link_up\{peer="b.example"\} 1/);
    expect(metrics).toMatch(/kalandra_federation_link_up\{peer="c.example"\} 1/);

    // SIGKILL b: a (which dialed b) and c (which b dialed) lose their links to it.
    await f.kill("b.example");
    for (const d of ["a.example", "c.example"]) {
      await f.readyzUntil(d, 503, "b killed");
      const r = await f.readyz(d);
      expect(r.failing).toEqual(["peer_links"]);
      expect(r.reason).toBe("required peer links down: b.example down");
    }
    // b restarts on its data directory: a redials it, b dials c, all ready again.
    await f.start("b.example");
    for (const d of DOMAINS) await f.readyzUntil(d, 200, "b back");
  });
});
