/**
 * Which peers this hub can reach now, and sending to them (part of the federation core,
 * federationCore.ts). A peer is reachable over its own link, or through its via while the
 * via's link is up and the routed peer is heard from (onwardRelay.ts keepalive). Reaching
 * and losing a peer are reported to the core (`reached`, `lost`), which resumes replicas,
 * transfers and the authority handler.
 */
import { type Clock, type DeviceSigner, sealEnvelope } from "@kalandra/proto";
import type { PeerLinks, PeerPolicy } from "./contract.js";
import type { OnwardRelay } from "./onwardRelay.js";
import type { EnvelopeExtra } from "./ports.js";

export interface PeerReachDeps {
  peers: PeerPolicy;
  links: PeerLinks;
  signer: DeviceSigner;
  clock: Clock;
  relay: OnwardRelay;
  /** When the core started: the down time of a peer whose link was never up. */
  startedAt: bigint;
  /** A peer became reachable (after it is marked up). */
  reached(domain: string): void;
  /** A peer stopped being reachable (after it is marked down). */
  lost(domain: string): void;
}

export class PeerReach {
  /** Peers reachable now (own link, or their via's) with their pinned keys. */
  private readonly up = new Map<string, Uint8Array>();
  /** Peers whose own link is up. */
  private readonly direct = new Set<string>();
  /** When each peer's link went down (or this core started, for links never up). */
  private readonly downSince = new Map<string, bigint>();

  constructor(private readonly d: PeerReachDeps) {}

  get domain(): string {
    return this.d.peers.domain;
  }

  linkUp(domain: string, hubKey: Uint8Array): void {
    this.direct.add(domain);
    this.reach(domain, hubKey);
    // Peers routed through it are reachable with it (their own pinned keys).
    for (const p of this.d.relay.routedThrough(domain)) {
      const admitted = this.d.peers.admit(p);
      if (admitted.ok && !this.direct.has(p)) this.reach(p, admitted.hubKey);
      this.d.relay.heard(p);
    }
  }

  linkDown(domain: string): void {
    this.direct.delete(domain);
    this.unreach(domain);
    for (const p of this.d.relay.routedThrough(domain)) if (!this.direct.has(p)) this.unreach(p);
  }

  /** The relay's periodic work: routed peers silent too long are unreachable. */
  tick(): void {
    for (const p of this.d.relay.tick()) if (this.up.has(p) && !this.direct.has(p)) this.unreach(p);
  }

  /** A peer became reachable: over its own link or through its via. */
  reach(domain: string, hubKey: Uint8Array): void {
    this.up.set(domain, new Uint8Array(hubKey));
    this.downSince.delete(domain);
    this.d.reached(domain);
  }

  private unreach(domain: string): void {
    if (this.up.has(domain)) this.downSince.set(domain, this.d.clock.now());
    this.up.delete(domain);
    this.d.lost(domain);
  }

  isUp(domain: string): boolean {
    return this.up.has(domain);
  }

  /** True while this hub's own link to `domain` is up. */
  isDirect(domain: string): boolean {
    return this.direct.has(domain);
  }

  /** The pinned key of a reachable peer. */
  keyOf(domain: string): Uint8Array | undefined {
    return this.up.get(domain);
  }

  /** How long `domain` has been unreachable; undefined while it is reachable. */
  downFor(domain: string): bigint | undefined {
    return this.up.has(domain)
      ? undefined
      : this.d.clock.now() - (this.downSince.get(domain) ?? this.d.startedAt);
  }

  /** Seals `frame` in an envelope to `domain`, over its link or its via (dropped if down). */
  send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void {
    const hop = this.up.has(domain) ? this.d.relay.nextHop(domain) : undefined;
    if (hop === undefined) return;
    const wire = sealEnvelope(this.d.signer, {
      origin: this.domain,
      forwardedAt: this.d.clock.now(),
      hops: 1,
      frame,
      ...extra,
      ...(hop.relayed ? { dest: domain } : {}),
    });
    this.d.links.send(hop.link, wire);
  }
}
