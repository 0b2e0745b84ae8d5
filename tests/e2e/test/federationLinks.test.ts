/**
 * Issue 18, real processes: three kalandrad hubs on loopback federating (docs/federation.md).
 * Each lists the other two as peers with pinned hub keys and requires them for readiness;
 * every pair links (the lower domain dials), /readyz turns 200 once all links are up and
 * /metrics shows them. SIGKILL of one hub: the others' links go down and their /readyz
 * names `peer_links`; the killed hub restarted on its data directory is redialed (or redials)
 * and every hub is ready again.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  writeHubKey,
} from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "./kalandrad.js";

const tmp = tempDir("e2e-federation-links");
const DOMAINS = ["a.example", "b.example", "c.example"] as const;
type Domain = (typeof DOMAINS)[number];

interface Spec {
  domain: Domain;
  dataDir: string;
  keyPath: string;
  hubKey: string;
  port: number;
  wsPort: number;
  monPort: number;
}

const hubs = new Map<Domain, Kalandrad>();
afterAll(async () => {
  for (const h of hubs.values()) {
    if (h.child.exitCode === null && h.child.signalCode === null) {
      h.child.kill("SIGTERM");
      await h.exit;
    }
  }
  tmp.cleanup();
});

async function spec(domain: Domain): Promise<Spec> {
  const dir = join(tmp.path, domain);
  mkdirSync(dir, { recursive: true });
  const keyPath = join(dir, "hub-key.pem");
  return {
    domain,
    dataDir: join(dir, "data"),
    keyPath,
    hubKey: writeHubKey(keyPath),
    port: await freePort(),
    wsPort: await freePort(),
    monPort: await freePort(),
  };
}

function start(s: Spec, all: Spec[]): Promise<Kalandrad> {
  const peers = all.filter((p) => p.domain !== s.domain);
  return startKalandrad({
    bin: BIN,
    dataDir: s.dataDir,
    listen: `127.0.0.1:${s.port}`,
    websocketListen: `127.0.0.1:${s.wsPort}`,
    monitoringListen: `127.0.0.1:${s.monPort}`,
    env: {
      KALANDRA_SERVER__DOMAIN: s.domain,
      KALANDRA_SERVER__HUB_KEY: s.keyPath,
      KALANDRA_SERVER__SHARDS: "1",
      KALANDRA_FEDERATION__ENABLED: "true",
      KALANDRA_FEDERATION__RECONNECT_MIN_MS: "100",
      KALANDRA_FEDERATION__RECONNECT_MAX_MS: "1000",
      KALANDRA_FEDERATION__PEERS: JSON.stringify(
        peers.map((p) => ({
          domain: p.domain,
          url: `ws://127.0.0.1:${p.wsPort}/kalandra`,
          hub_key: p.hubKey,
        })),
      ),
      KALANDRA_MONITORING__REQUIRED_PEERS: peers.map((p) => p.domain).join(","),
    },
  });
}

async function readyz(s: Spec): Promise<{ status: number; failing?: string[]; reason?: string }> {
  const r = await fetch(`http://127.0.0.1:${s.monPort}/readyz`);
  const body = (await r.json()) as {
    failing?: string[];
    checks: Record<string, { reason?: string }>;
  };
  return { status: r.status, failing: body.failing, reason: body.checks.peer_links?.reason };
}

async function readyzUntil(s: Spec, status: number, what: string): Promise<void> {
  let last: unknown;
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    last = await readyz(s);
    if ((last as { status: number }).status === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what}: /readyz of ${s.domain} never answered ${status}; last ${JSON.stringify(last)}`,
  );
}

describe("three kalandrad processes federating", () => {
  it("link every pair, see a SIGKILLed hub go down and come back", async () => {
    const specs = await Promise.all(DOMAINS.map(spec));
    const [a, b, c] = specs as [Spec, Spec, Spec];
    for (const s of specs) hubs.set(s.domain, await start(s, specs));
    for (const s of specs) await readyzUntil(s, 200, "all links up");
    const metrics = await (await fetch(`http://127.0.0.1:${a.monPort}/metrics`)).text();
    expect(metrics).toMatch(/kalandra_federation_link_up\{peer="b.example"\} 1/);
    expect(metrics).toMatch(/kalandra_federation_link_up\{peer="c.example"\} 1/);

    // SIGKILL b: a (which dialed b) and c (which b dialed) lose their links to it.
    const killed = hubs.get("b.example");
    killed?.child.kill("SIGKILL");
    await killed?.exit;
    for (const s of [a, c]) {
      await readyzUntil(s, 503, "b killed");
      const r = await readyz(s);
      expect(r.failing).toEqual(["peer_links"]);
      expect(r.reason).toBe("required peer links down: b.example down");
    }
    // b restarts on its data directory: a redials it, b dials c, all ready again.
    hubs.set("b.example", await start(b, specs));
    for (const s of specs) await readyzUntil(s, 200, "b back");
  });
});
