/**
 * Which hubs this hub federates with (DESIGN §11): the configured peers with their pinned
 * hub keys, an allowlist and a blocklist. One answer for a link's peer and for an
 * envelope's origin: a domain not configured is PEER_NOT_CONFIGURED, a blocked one (or one
 * off a non-empty allowlist) PEER_BLOCKED. Pure; the runtime rebuilds it on SIGHUP.
 */
import { bytesEqual } from "@kalandra/proto";

export interface PeerEntry {
  domain: string;
  /** The pinned Ed25519 hub public key (32 bytes). */
  hubKey: Uint8Array;
}

export type PeerVerdict =
  | { ok: true; peer: PeerEntry }
  | { ok: false; code: "PEER_NOT_CONFIGURED" | "PEER_BLOCKED"; message: string };

export interface PeerPolicyOptions {
  peers: readonly PeerEntry[];
  /** Empty = every configured peer is allowed. */
  allow?: readonly string[];
  block?: readonly string[];
}

export class PeerPolicy {
  private readonly peers = new Map<string, PeerEntry>();
  private readonly allow: ReadonlySet<string>;
  private readonly block: ReadonlySet<string>;

  constructor(o: PeerPolicyOptions) {
    for (const p of o.peers) this.peers.set(p.domain.toLowerCase(), p);
    this.allow = new Set((o.allow ?? []).map((d) => d.toLowerCase()));
    this.block = new Set((o.block ?? []).map((d) => d.toLowerCase()));
  }

  /** May `domain` link to this hub, or originate frames relayed to it? */
  admit(domain: string): PeerVerdict {
    const d = domain.toLowerCase();
    const peer = this.peers.get(d);
    if (peer === undefined) {
      return {
        ok: false,
        code: "PEER_NOT_CONFIGURED",
        message: `${domain} is not a configured peer`,
      };
    }
    if (this.block.has(d) || (this.allow.size > 0 && !this.allow.has(d))) {
      return { ok: false, code: "PEER_BLOCKED", message: `${domain} is blocked` };
    }
    return { ok: true, peer };
  }

  /** True when `hubKey` is the key pinned for `domain`. */
  pinned(domain: string, hubKey: Uint8Array): boolean {
    const peer = this.peers.get(domain.toLowerCase());
    return peer !== undefined && bytesEqual(peer.hubKey, hubKey);
  }

  /** Every configured peer the policy admits (the ones a hub dials). */
  admitted(): PeerEntry[] {
    return [...this.peers.values()].filter((p) => this.admit(p.domain).ok);
  }
}
