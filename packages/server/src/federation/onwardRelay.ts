/**
 * Onward relay (issue 18; docs/federation.md "Onward relay"): a hub reaches a peer it has
 * no link to through a peer it is linked to. Routes are static: a peer configured with
 * `via = "b.example"` is reached through b.example, and only b.example may relay its frames.
 *
 * - Sending: a frame for a routed peer is sealed by this hub as origin with `dest` (the
 *   envelope then carries the origin's own signature, `origin_sig`) and goes to the via.
 * - Relaying: an envelope whose `dest` is another hub goes one hop on, untouched but for
 *   hops + 1 and the forwarding hub's outer signature, only between hubs this hub admits,
 *   never back where it came from, and never past `max_hops` (TOO_MANY_HOPS).
 * - Arriving: a relayed envelope for this hub is believed only from the origin's configured
 *   via, with the origin's signature, once (REPLAYED_ENVELOPE), within the replay window
 *   (relayReplay.ts: bounded memory that shrinks the window when full, never lets a replay by).
 *
 * - Liveness: a relay's link stays up when the hub behind it dies, so each routed peer is
 *   pinged through its via every `keepaliveMs` (a PING hub frame the peer ignores) and, heard
 *   from by nothing for two intervals, counts as unreachable (failover's clock starts) until
 *   a frame of it arrives again.
 *
 * So a relay cannot forge an origin, speak for another hub's users, replay or amplify (one
 * envelope in, at most one out); a blocked origin is refused at the relay and at the end.
 */
import {
  type Clock,
  type DeviceSigner,
  type FedEnvelopePayload,
  forwardEnvelope,
  hubFrame,
  Opcode,
  type ProtocolErrorCode,
  sealEnvelope,
  verifyRelayed,
} from "@kalandra/proto";
import type { PeerPolicy } from "./contract.js";
import { ReplayMemory } from "./relayReplay.js";

export { RELAY_REPLAY_WINDOW_MS } from "./relayReplay.js";

/** Default ping interval of routed peers (`federation.keepalive_ms`'s default). */
const KEEPALIVE_MS = 5000n;

export interface OnwardRelayDeps {
  self: string;
  peers: PeerPolicy;
  signer: DeviceSigner;
  clock: Clock;
  /** True while this hub's own link to `domain` is up. */
  linked(domain: string): boolean;
  /** Bytes onto the link to `domain` (the runtime's PeerLinks). */
  sendRaw(domain: string, bytes: Uint8Array): void;
  count(code: ProtocolErrorCode): void;
  replayWindowMs?: bigint;
  /** The most origin signatures remembered (relayReplay.ts; default 65,536). */
  maxRemembered?: number;
  keepaliveMs?: number;
}

export class OnwardRelay {
  /** Envelopes this hub passed on for other hubs (a counter for metrics and tests). */
  forwarded = 0;
  /** Relayed envelopes believed here, so none is believed twice (relayReplay.ts). */
  readonly replays: ReplayMemory;
  private readonly keepalive: bigint;
  /** When each routed peer was last heard from (or its via's link came up). */
  private readonly heardAt = new Map<string, bigint>();
  private lastPing: bigint | undefined;
  private pings = 0;

  constructor(private readonly d: OnwardRelayDeps) {
    this.replays = new ReplayMemory(d.replayWindowMs, d.maxRemembered);
    this.keepalive = d.keepaliveMs === undefined ? KEEPALIVE_MS : BigInt(d.keepaliveMs);
  }

  /** A frame of routed peer `domain` arrived (or its via's link came up): it is alive. */
  heard(domain: string): void {
    this.heardAt.set(domain, this.d.clock.now());
  }

  /**
   * The keepalive's clock (the core's tick): pings every routed peer whose via is linked
   * once an interval; returns the routed peers silent for two intervals.
   */
  tick(): string[] {
    const now = this.d.clock.now();
    const routed = (this.d.peers.routed?.() ?? []).filter(
      (p) => this.nextHop(p)?.relayed === true && this.d.peers.admit(p).ok,
    );
    if (this.lastPing === undefined || now - this.lastPing >= this.keepalive) {
      this.lastPing = now;
      for (const p of routed) this.ping(p, now);
    }
    return routed.filter((p) => now - (this.heardAt.get(p) ?? now) > 2n * this.keepalive);
  }

  private ping(domain: string, now: bigint): void {
    const hop = this.nextHop(domain);
    if (hop === undefined) return;
    const frame = hubFrame(this.d.signer, Opcode.PING, 0n, 0n, { nonce: this.pings++ });
    const e = { origin: this.d.self, forwardedAt: now, hops: 1, frame, dest: domain };
    this.d.sendRaw(hop.link, sealEnvelope(this.d.signer, e));
  }

  /** The configured via of `domain`, when it is reached through another peer. */
  routeOf(domain: string): string | undefined {
    return this.d.peers.via?.(domain);
  }

  /** The peers reached through `via` (they come and go with its link). */
  routedThrough(via: string): string[] {
    return (this.d.peers.routed?.() ?? []).filter((p) => this.routeOf(p) === via);
  }

  /**
   * The link a frame for `domain` leaves on: its own when up, else its via's; and whether it
   * is relayed (then sealed with `dest`). Undefined when neither link is up.
   */
  nextHop(domain: string): { link: string; relayed: boolean } | undefined {
    if (this.d.linked(domain)) return { link: domain, relayed: false };
    const via = this.routeOf(domain);
    if (via !== undefined && this.d.linked(via)) return { link: via, relayed: true };
    return undefined;
  }

  /**
   * An envelope from the link `from` for another hub (`e.dest`): passed one hop on, or
   * dropped with a typed count. Never stored, never handed to this hub's core.
   */
  pass(from: string, e: FedEnvelopePayload & { dest: string }): void {
    const hop = this.nextHop(e.dest);
    const problem = this.passProblem(from, e, hop?.link);
    if (problem !== undefined || hop === undefined) {
      this.d.count(problem ?? "PEER_UNREACHABLE");
      return;
    }
    this.forwarded++;
    this.d.sendRaw(hop.link, forwardEnvelope(this.d.signer, e));
  }

  /** Why an envelope for `e.dest` may not go on to `next`, or undefined. */
  private passProblem(
    from: string,
    e: FedEnvelopePayload & { dest: string },
    next: string | undefined,
  ): ProtocolErrorCode | undefined {
    if (e.origin === this.d.self || e.dest === this.d.self) return "BAD_PAYLOAD";
    for (const hub of [e.origin, e.dest]) {
      const admitted = this.d.peers.admit(hub);
      if (!admitted.ok) return admitted.code;
    }
    if (e.hops + 1 > this.d.peers.maxHops) return "TOO_MANY_HOPS";
    // Never back towards where it came from or its origin: no loops through this hub.
    if (next === undefined || next === from || next === e.origin) return "PEER_UNREACHABLE";
    return undefined;
  }

  /**
   * A relayed envelope for this hub from the link `from`: the origin's pinned key when this
   * hub may believe it (the origin admitted, `from` its configured via, the origin's
   * signature good, not seen before, its origin time within the replay window), else
   * undefined after a typed count.
   */
  accept(from: string, e: FedEnvelopePayload): Uint8Array | undefined {
    // Not relayed (no dest) yet not from the link's peer: only direct links speak for themselves.
    if (e.dest === undefined) return this.refuse("PEER_BLOCKED");
    const admitted = this.d.peers.admit(e.origin);
    if (!admitted.ok) return this.refuse(admitted.code);
    if (this.routeOf(e.origin) !== from) return this.refuse("PEER_BLOCKED");
    if (!verifyRelayed(admitted.hubKey, e)) return this.refuse("BAD_HUB_SIGNATURE");
    const sig = e.origin_sig as Uint8Array;
    if (!this.replays.fresh(e.origin, sig, e.forwarded_at, this.d.clock.now())) {
      return this.refuse("REPLAYED_ENVELOPE");
    }
    this.heard(e.origin);
    return admitted.hubKey;
  }

  private refuse(code: ProtocolErrorCode): undefined {
    this.d.count(code);
    return undefined;
  }
}
