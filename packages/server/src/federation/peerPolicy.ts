/**
 * A peer policy from configuration (DESIGN §11): the configured peers with their pinned
 * keys, and an allowlist or a blocklist of domains. A blocked domain is refused even when
 * configured (PEER_BLOCKED), an unknown one is PEER_NOT_CONFIGURED.
 *
 * @example
 * const peers = staticPeerPolicy({ domain: "a.example", peers: [{ domain: "b.example", hubKey }] });
 * peers.admit("b.example"); // { ok: true, hubKey }
 */
import type { PeerAdmission, PeerConfig, PeerPolicy } from "./contract.js";

export const DEFAULT_MAX_HOPS = 3;

export interface StaticPeerOptions {
  domain: string;
  peers: readonly PeerConfig[];
  /** When given, only these domains are admitted (besides being configured). */
  allow?: readonly string[];
  /** Never admitted. */
  block?: readonly string[];
  maxHops?: number;
}

/** Domains compare case-insensitively (DNS names). */
const norm = (d: string): string => d.toLowerCase();

export function staticPeerPolicy(o: StaticPeerOptions): PeerPolicy {
  const keys = new Map(o.peers.map((p) => [norm(p.domain), p.hubKey]));
  const routes = new Map(
    o.peers.flatMap((p) => (p.via === undefined ? [] : [[norm(p.domain), norm(p.via)] as const])),
  );
  const allow = o.allow === undefined ? undefined : new Set(o.allow.map(norm));
  const block = new Set((o.block ?? []).map(norm));
  const maxHops = o.maxHops ?? DEFAULT_MAX_HOPS;
  if (!Number.isInteger(maxHops) || maxHops < 1) throw new RangeError('"maxHops" expected >= 1');
  for (const p of o.peers) {
    if (p.hubKey.length !== 32) throw new TypeError(`hub key of ${p.domain} expected 32 bytes`);
    // A route names a directly linked peer: relays of relays are the relay's to choose.
    if (p.via !== undefined && (!keys.has(norm(p.via)) || routes.has(norm(p.via)))) {
      throw new RangeError(`${p.domain} via ${p.via}: expected a directly linked peer`);
    }
  }
  return {
    domain: o.domain,
    maxHops,
    admit(domain: string): PeerAdmission {
      const d = norm(domain);
      if (block.has(d) || (allow !== undefined && !allow.has(d))) {
        return { ok: false, code: "PEER_BLOCKED", message: `${domain} is blocked` };
      }
      const hubKey = keys.get(d);
      if (hubKey === undefined || d === norm(o.domain)) {
        return { ok: false, code: "PEER_NOT_CONFIGURED", message: `${domain} is not a peer` };
      }
      return { ok: true, hubKey };
    },
    via: (domain) => routes.get(norm(domain)),
    routed: () => [...routes.keys()],
  };
}
