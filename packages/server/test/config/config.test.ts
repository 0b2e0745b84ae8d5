import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { renderConfigDocs } from "../../src/config/docs.js";
import {
  buildConfig,
  diffConfig,
  loadConfig,
  parseAddress,
  redacted,
} from "../../src/config/load.js";
import { defaultConfig, fields } from "../../src/config/schema.js";

const tmp = tempDir("config");
const dir = tmp.path;
afterAll(() => tmp.cleanup());
function file(text: string): string {
  const p = join(dir, `c${Math.floor(performance.now() * 1000)}.toml`);
  writeFileSync(p, text);
  return p;
}
function tableCells(markdown: string): string {
  return markdown
    .split("\n")
    .map((l) => (l.startsWith("|") ? l.replace(/\s*\|\s*/g, "|").replace(/-{3,}/g, "---") : l))
    .join("\n")
    .trim();
}
const PEER_B = {
  domain: "b.example",
  url: "wss://hub.b.example:4480/kalandra",
  hub_key: "0b".repeat(32),
};
const PEER_C = {
  domain: "c.example",
  url: "ws://127.0.0.1:4490/kalandra",
  hub_key: "0c".repeat(32),
};
function issues(r: ReturnType<typeof buildConfig>) {
  return r.ok ? [] : r.issues;
}

describe("configuration", () => {
  it("runs with no file at all: the documented defaults", () => {
    const r = loadConfig(undefined, {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.server.listen).toBe("127.0.0.1:4433");
    expect(r.config.database.path).toBe("./data");
    expect(r.config.monitoring.listen).toBe("127.0.0.1:9464");
    expect(r.config.federation.enabled).toBe(false);
    expect(r.config.tls.cert).toBe("");
    expect(r.config).toEqual(defaultConfig());
  });

  it("allows plaintext WebSocket on loopback only, unless TLS or websocket_plaintext", () => {
    const ws = (listen: string, more: Record<string, string> = {}) =>
      loadConfig(undefined, {
        KALANDRA_SERVER__WEBSOCKET_LISTEN: listen,
        KALANDRA_AUTH__METHODS: "enrollment",
        ...more,
      });
    for (const ok of ["127.0.0.1:4480", "127.8.0.1:1", "[::1]:4480", "localhost:4480", ""])
      expect(ws(ok).ok).toBe(true);
    const refused = ws("0.0.0.0:4480");
    expect(refused.ok).toBe(false);
    expect(refused.ok ? [] : refused.issues.map((i) => i.key)).toEqual(["server.websocket_listen"]);
    expect(ws("192.168.1.5:4480").ok).toBe(false);
    expect(ws("0.0.0.0:4480", { KALANDRA_SERVER__WEBSOCKET_PLAINTEXT: "true" }).ok).toBe(true);
    const tls = { KALANDRA_TLS__CERT: "/c.pem", KALANDRA_TLS__KEY: "/k.pem" };
    expect(ws("0.0.0.0:4480", tls).ok).toBe(true);
  });

  it("[auth]: dev only when every listener is on loopback; known methods only", () => {
    const env = (vars: Record<string, string>) => loadConfig(undefined, vars);
    expect(env({}).ok).toBe(true);
    for (const [key, value] of [
      ["KALANDRA_SERVER__LISTEN", "0.0.0.0:4433"],
      ["KALANDRA_SERVER__WEBSOCKET_LISTEN", "192.168.1.5:4480"],
      ["KALANDRA_MONITORING__LISTEN", "[::]:9464"],
    ] as const) {
      const r = env({ [key]: value, KALANDRA_SERVER__WEBSOCKET_PLAINTEXT: "true" });
      expect(r.ok, key).toBe(false);
      const issue = r.ok ? undefined : r.issues.find((i) => i.key === "auth.methods");
      expect(issue?.problem, key).toMatch(/"dev" lets users name themselves.*loopback/);
      const fixed = env({
        [key]: value,
        KALANDRA_SERVER__WEBSOCKET_PLAINTEXT: "true",
        KALANDRA_AUTH__METHODS: "enrollment",
      });
      expect(fixed.ok, key).toBe(true);
    }
    const unknown = env({ KALANDRA_AUTH__METHODS: "dev,password" });
    expect(unknown.ok ? [] : unknown.issues.map((i) => i.problem)).toEqual([
      'unknown value "password" (known: "dev", "enrollment", "oidc") (from KALANDRA_AUTH__METHODS)',
    ]);
    const oidc = env({ KALANDRA_AUTH__METHODS: "oidc" });
    expect(oidc.ok ? [] : oidc.issues.map((i) => i.problem)).toEqual([
      '"oidc" needs auth.oidc_issuer (and its other keys)',
    ]);
    const none = env({ KALANDRA_AUTH__METHODS: "" });
    expect(none.ok ? [] : none.issues.map((i) => i.key)).toEqual(["auth.methods"]);
  });

  it("reads a TOML file", () => {
    const r = loadConfig(
      file(
        `[server]\nlisten = "0.0.0.0:5000"\n[auth]\nmethods = ["enrollment"]\n[limits]\nmax_connections = 7\n[federation]\nmax_hops = 2\n[[federation.peers]]\ndomain = "B.example"\nurl = "wss://hub.b.example:4480/kalandra"\nhub_key = "${"AB".repeat(32)}"\n`,
      ),
      {},
    );
    expect(r.ok && r.config.server.listen).toBe("0.0.0.0:5000");
    expect(r.ok && r.config.limits.max_connections).toBe(7);
    expect(r.ok && r.config.federation.max_hops).toBe(2);
    // Domains and keys are normalised to lower case: they are compared, never displayed as typed.
    expect(r.ok && r.config.federation.peers).toEqual([
      { domain: "b.example", url: "wss://hub.b.example:4480/kalandra", hub_key: "ab".repeat(32) },
    ]);
  });

  it("names the key and the problem for each bad value", () => {
    const r = buildConfig(
      {
        server: { listen: "nohost", shards: -1, log_level: "loud" },
        limits: { max_connections: "many", max_payload_bytes: 10 },
        database: { sync: "sometimes" },
        federation: { enabled: "yes" },
        bogus: { a: 1 },
        tls: { cert: "x.pem", colour: 1 },
      },
      {},
    );
    const byKey = Object.fromEntries(issues(r).map((i) => [i.key, i.problem]));
    expect(byKey["server.listen"]).toMatch(/host:port/);
    expect(byKey["server.shards"]).toMatch(/at least 0/);
    expect(byKey["server.log_level"]).toMatch(/one of/);
    expect(byKey["limits.max_connections"]).toMatch(/integer/);
    expect(byKey["limits.max_payload_bytes"]).toMatch(/at least 1024/);
    expect(byKey["database.sync"]).toMatch(/"full", "none"/);
    expect(byKey["federation.enabled"]).toMatch(/true or false/);
    expect(byKey.bogus).toMatch(/unknown section/);
    expect(byKey["tls.colour"]).toMatch(/unknown key/);
    expect(byKey["tls.key"]).toMatch(/together/);
  });

  it("reports unreadable and malformed files", () => {
    expect(issues(loadConfig(join(dir, "missing.toml"), {}))[0]?.problem).toMatch(/ENOENT/);
    expect(issues(loadConfig(file("[server\nlisten="), {}))[0]?.problem).toMatch(/TOML/);
  });

  it("applies KALANDRA_SECTION__KEY overrides over the file, typed", () => {
    const r = loadConfig(file("[limits]\nmax_connections = 7\n"), {
      KALANDRA_LIMITS__MAX_CONNECTIONS: "50",
      KALANDRA_FEDERATION__ENABLED: "true",
      KALANDRA_SERVER__DOMAIN: "a.example",
      KALANDRA_FEDERATION__PEERS: JSON.stringify([PEER_B, PEER_C]),
      KALANDRA_SERVER__LOG_LEVEL: "debug",
      KALANDRA_LOG: "ignored, not a config variable",
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.limits.max_connections).toBe(50);
    expect(r.config.federation.enabled).toBe(true);
    expect(r.config.federation.peers).toEqual([PEER_B, PEER_C]);
    expect(r.config.server.log_level).toBe("debug");
  });

  it("names bad environment overrides and unknown variables", () => {
    const r = loadConfig(undefined, {
      KALANDRA_LIMITS__MAX_CONNECTIONS: "lots",
      KALANDRA_LIMITS__NOPE: "1",
    });
    const byKey = Object.fromEntries(issues(r).map((i) => [i.key, i.problem]));
    expect(byKey["limits.max_connections"]).toMatch(/integer.*KALANDRA_LIMITS__MAX_CONNECTIONS/);
    expect(byKey.KALANDRA_LIMITS__NOPE).toMatch(/no configuration key limits.nope/);
  });

  it("[federation]: peers are checked tables, lists and required peers name configured domains", () => {
    const fed = (federation: Record<string, unknown>, more: Record<string, unknown> = {}) =>
      issues(buildConfig({ server: { domain: "a.example" }, federation, ...more }));
    expect(fed({ enabled: true, peers: [PEER_B, PEER_C], block: ["c.example"] })).toEqual([]);
    const problem = (peer: Record<string, unknown>) => fed({ peers: [peer] })[0]?.problem;
    expect(problem({ ...PEER_B, hub_key: "ab" })).toMatch(
      /peer 1 \(b.example\): "hub_key" expected 64 hex/,
    );
    expect(problem({ ...PEER_B, url: "ws://hub.b.example:1/kalandra" })).toMatch(
      /ws:\/\/ only on loopback/,
    );
    expect(problem({ ...PEER_B, url: "not a url" })).toMatch(/is not a URL/);
    expect(problem({ ...PEER_B, domain: "b_example" })).toMatch(/is not a domain/);
    expect(problem({ ...PEER_B, colour: "red" })).toMatch(/unknown key "colour"/);
    expect(problem({ domain: "b.example" })).toMatch(/"url" expected a string/);
    expect(fed({ peers: "b.example" })[0]?.problem).toMatch(/array of \[\[federation.peers\]\]/);
    expect(fed({ peers: [PEER_B, PEER_B] }).map((i) => i.problem)).toEqual([
      "b.example is listed twice",
    ]);
    expect(fed({ peers: [{ ...PEER_B, domain: "a.example" }] })[0]?.problem).toMatch(
      /own server.domain/,
    );
    expect(
      fed({ peers: [PEER_B], allow: ["x.example"], block: ["y.example"] }).map((i) => i.key),
    ).toEqual(["federation.allow", "federation.block"]);
    expect(fed({ reconnect_min_ms: 500, reconnect_max_ms: 100 })[0]?.key).toBe(
      "federation.reconnect_max_ms",
    );
    const required = fed({ peers: [PEER_B] }, { monitoring: { required_peers: ["c.example"] } });
    expect(required[0]).toEqual({
      key: "monitoring.required_peers",
      problem: '"c.example" is not the domain of an entry of federation.peers',
    });
    expect(fed({ peers: [PEER_B] }, { monitoring: { required_peers: ["b.example"] } })).toEqual([]);
    expect(
      issues(buildConfig({ server: { domain: "" }, federation: { enabled: true } }))[0]?.key,
    ).toBe("server.domain");
  });

  it("[federation]: a peer reached through another names a linked peer as `via`, no url", () => {
    const fed = (peers: unknown[], more: Record<string, unknown> = {}) =>
      issues(buildConfig({ server: { domain: "a.example" }, federation: { peers }, ...more }));
    const routed = { domain: "c.example", hub_key: "0c".repeat(32), via: "B.example" };
    expect(fed([PEER_B, routed])).toEqual([]);
    const r = buildConfig({
      server: { domain: "a.example" },
      federation: { peers: [PEER_B, routed] },
    });
    expect(r.ok && r.config.federation.peers[1]).toEqual({ ...routed, via: "b.example" });
    expect(fed([PEER_B, { ...routed, url: PEER_C.url }])[0]?.problem).toMatch(/no "url" with it/);
    expect(fed([PEER_B, { ...routed, via: "not a domain" }])[0]?.problem).toMatch(/"via" expected/);
    expect(fed([routed])[0]?.problem).toMatch(
      /c.example via b.example: expected the domain of a peer with a url/,
    );
    expect(
      fed([
        PEER_B,
        routed,
        { ...PEER_C, domain: "d.example", url: undefined, via: "c.example" },
      ]).map((i) => i.problem),
    ).toEqual(["d.example via c.example: expected the domain of a peer with a url"]);
    expect(
      fed([PEER_B, routed], { monitoring: { required_peers: ["c.example"] } })[0]?.problem,
    ).toMatch(/reached through `via`/);
  });

  it("[federation]: enlist_hubs is a boolean, true by default, changed by a restart only", () => {
    const on = loadConfig(undefined, {});
    expect(on.ok && on.config.federation.enlist_hubs).toBe(true);
    const off = loadConfig(file("[federation]\nenlist_hubs = false\n"), {});
    expect(off.ok && off.config.federation.enlist_hubs).toBe(false);
    const env = loadConfig(undefined, { KALANDRA_FEDERATION__ENLIST_HUBS: "false" });
    expect(env.ok && env.config.federation.enlist_hubs).toBe(false);
    for (const bad of ['enlist_hubs = "yes"', "enlist_hubs = 1"]) {
      const r = loadConfig(file(`[federation]\n${bad}\n`), {});
      expect(issues(r)).toEqual([
        { key: "federation.enlist_hubs", problem: expect.stringMatching(/true or false/) },
      ]);
    }
    const badEnv = loadConfig(undefined, { KALANDRA_FEDERATION__ENLIST_HUBS: "on" });
    expect(issues(badEnv).map((i) => [i.key, i.problem])).toEqual([
      ["federation.enlist_hubs", expect.stringMatching(/KALANDRA_FEDERATION__ENLIST_HUBS/)],
    ]);
    // Enlisting is chosen when the federation core is built: SIGHUP says a restart is needed.
    const next = defaultConfig();
    next.federation.enlist_hubs = false;
    expect(diffConfig(defaultConfig(), next)).toEqual([
      { key: "federation.enlist_hubs", reloadable: false, secret: false },
    ]);
  });

  it("parses addresses, IPv6 included", () => {
    expect(parseAddress("[::1]:443")).toEqual({ host: "::1", port: 443 });
    expect(parseAddress("h:70000")).toBeUndefined();
  });

  it("diffs configs and says which keys reload", () => {
    const a = defaultConfig();
    const b = defaultConfig();
    b.limits.max_connections = 1;
    b.server.listen = "127.0.0.1:1";
    expect(diffConfig(a, b)).toEqual([
      { key: "server.listen", reloadable: false, secret: false },
      { key: "limits.max_connections", reloadable: true, secret: false },
    ]);
  });

  it("redacts secrets", () => {
    const c = defaultConfig();
    c.monitoring.admin_token = "s3cret";
    expect(JSON.stringify(redacted(c))).not.toContain("s3cret");
  });

  it("docs/configuration.md is the schema's rendering", () => {
    const committed = readFileSync(join(__dirname, "../../../../docs/configuration.md"), "utf8");
    // Table padding is the formatter's (biome) business; compare cells, not spaces.
    expect(tableCells(committed)).toBe(tableCells(renderConfigDocs()));
    for (const { section, key } of fields()) {
      expect(committed).toContain(`| \`${key}\``);
      expect(committed).toContain(`[${section}]`);
    }
  });
});
