/**
 * The `[federation]` rules (DESIGN §11) beside the generic field checks of load.ts: the
 * shape of a `[[federation.peers]]` table, and what must hold across keys (unique peer
 * domains that are not this hub's own, allow/block lists naming configured peers, a
 * required peer that is configured). Pure: the daemon and `validate-config` share it.
 */
import type { Config, PeerConfig } from "./schema.js";

export interface FederationIssue {
  key: string;
  problem: string;
}

/** A domain as DNS writes it: labels of letters, digits and hyphens (an optional port is not part of it). */
const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const HUB_KEY = /^[0-9a-f]{64}$/;
const PEER_KEYS = ["domain", "url", "hub_key", "via"] as const;

export function isDomain(s: string): boolean {
  return DOMAIN.test(s);
}

/** Checks one peers value (an array of tables); returns the normalised peers or a problem. */
export function checkPeers(value: unknown): { value: PeerConfig[] } | { problem: string } {
  if (!Array.isArray(value)) return { problem: "expected an array of [[federation.peers]] tables" };
  const out: PeerConfig[] = [];
  for (const [i, entry] of value.entries()) {
    const at = `peer ${i + 1}`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      return { problem: `${at}: expected a table {domain, url, hub_key}` };
    }
    const t = entry as Record<string, unknown>;
    const extra = Object.keys(t).find((k) => !(PEER_KEYS as readonly string[]).includes(k));
    if (extra !== undefined) {
      return {
        problem: `${at}: unknown key ${JSON.stringify(extra)} (known: ${PEER_KEYS.join(", ")})`,
      };
    }
    for (const k of PEER_KEYS) {
      const optional = k === "via" || (k === "url" && t.via !== undefined);
      if (typeof t[k] !== "string" && !(optional && t[k] === undefined)) {
        return { problem: `${at}: "${k}" expected a string` };
      }
    }
    const domain = (t.domain as string).toLowerCase();
    const hubKey = (t.hub_key as string).toLowerCase();
    if (!isDomain(domain))
      return { problem: `${at}: "domain" ${JSON.stringify(t.domain)} is not a domain` };
    const via = typeof t.via === "string" ? t.via.toLowerCase() : undefined;
    if (via !== undefined && (t.url !== undefined || !isDomain(via))) {
      return { problem: `${at} (${domain}): "via" expected a peer's domain, and no "url" with it` };
    }
    const url = t.url as string | undefined;
    const urlProblem = url === undefined ? undefined : checkPeerUrl(url);
    if (urlProblem !== undefined) return { problem: `${at} (${domain}): ${urlProblem}` };
    if (!HUB_KEY.test(hubKey)) {
      return {
        problem: `${at} (${domain}): "hub_key" expected 64 hex digits (an Ed25519 public key)`,
      };
    }
    out.push({
      domain,
      hub_key: hubKey,
      ...(url === undefined ? {} : { url }),
      ...(via ? { via } : {}),
    });
  }
  return { value: out };
}

/** A link is dialed over WebSocket: wss anywhere, plain ws only to a loopback host. */
function checkPeerUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"url" ${JSON.stringify(url)} is not a URL`;
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const loopback =
    host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (u.protocol === "wss:" || (u.protocol === "ws:" && loopback)) return undefined;
  return `"url" expected wss://host:port/kalandra (ws:// only on loopback), got ${JSON.stringify(url)}`;
}

/** The cross-key rules of `[federation]` and `monitoring.required_peers`. */
export function federationIssues(c: Config): FederationIssue[] {
  const f = c.federation;
  const issues: FederationIssue[] = [];
  const own = c.server.domain.toLowerCase();
  const domains = f.peers.map((p) => p.domain);
  if (f.enabled && !isDomain(own)) {
    issues.push({
      key: "server.domain",
      problem: `federation needs a domain, got ${JSON.stringify(c.server.domain)}`,
    });
  }
  const seen = new Set<string>();
  for (const d of domains) {
    if (d === own)
      issues.push({ key: "federation.peers", problem: `${d} is this hub's own server.domain` });
    if (seen.has(d)) issues.push({ key: "federation.peers", problem: `${d} is listed twice` });
    seen.add(d);
  }
  // A route names a peer this hub links to itself: relays of relays are the relay's choice.
  for (const p of f.peers) {
    const via = p.via === undefined ? undefined : f.peers.find((q) => q.domain === p.via);
    if (p.via !== undefined && (via === undefined || via.url === undefined)) {
      issues.push({
        key: "federation.peers",
        problem: `${p.domain} via ${p.via}: expected the domain of a peer with a url`,
      });
    }
  }
  for (const list of ["allow", "block"] as const) {
    for (const d of f[list]) {
      if (!seen.has(d.toLowerCase())) {
        issues.push({
          key: `federation.${list}`,
          problem: `${JSON.stringify(d)} is not the domain of an entry of federation.peers`,
        });
      }
    }
  }
  // A required peer must be a configured one: a typo would keep /readyz failing forever.
  for (const peer of c.monitoring.required_peers) {
    if (!seen.has(peer.toLowerCase())) {
      issues.push({
        key: "monitoring.required_peers",
        problem: `${JSON.stringify(peer)} is not the domain of an entry of federation.peers`,
      });
    } else if (f.peers.some((p) => p.domain === peer.toLowerCase() && p.via !== undefined)) {
      issues.push({
        key: "monitoring.required_peers",
        problem: `${JSON.stringify(peer)} is reached through ${"`via`"}: it has no link to require`,
      });
    }
  }
  if (f.reconnect_max_ms < f.reconnect_min_ms) {
    issues.push({
      key: "federation.reconnect_max_ms",
      problem: "must be at least federation.reconnect_min_ms",
    });
  }
  return issues;
}
