/**
 * One end of one hub link, sans I/O (DESIGN §2): the handshake (handshake.ts) and, once
 * the link is up, what may pass from the peer to the federation core: hub frames within
 * the peer's rate (a token bucket per peer domain that outlives reconnects, so redialing
 * does not refill it). The runtime feeds frames in and carries out the events; kalandrad
 * (runtime/node/federation/) and the simulation drive the same code.
 *
 * @example
 * const end = LinkEndpoint.dialer({ self, peer, rng, bucketFor });
 * for (const ev of end.start()) run(ev); // { kind: "send", frame: FED_HELLO }
 * for (const ev of end.receive(frame)) run(ev);
 */
import { Flag, type Frame, type ProtocolErrorCode, type Rng } from "@kalandra/proto";
import type { TokenBucket } from "../../hub/tokenBucket.js";
import type { PeerConfig, PeerPolicy } from "../contract.js";
import { AcceptorHandshake, DialerHandshake, type LinkSelf, type LinkStep } from "./handshake.js";

export type LinkEvent =
  /** Write this frame on the link. */
  | { kind: "send"; frame: Uint8Array }
  /** The handshake finished: the federation core may use the link (`linkUp`). */
  | { kind: "up"; peer: PeerConfig; maxHops: number }
  /** A frame from the peer for the federation core (`linkFrame`); the bytes are the runtime's buffer. */
  | { kind: "frame"; peer: string; bytes: Uint8Array }
  /** A frame from the peer not passed on (counted per peer; the link stays up). */
  | { kind: "dropped"; peer: string; code: ProtocolErrorCode; message: string }
  /**
   * The link must close. `remote`: the peer refused us; otherwise we refused the peer (the
   * runtime audits it). `peer` is the claimed domain, when one was claimed.
   */
  | {
      kind: "closed";
      code: ProtocolErrorCode;
      message: string;
      peer?: string;
      remote: boolean;
    };

export interface LinkEndpointDeps {
  self: LinkSelf;
  rng: Rng;
  /** The peer's bucket of frames it may send (kept by the caller across reconnects). */
  bucketFor(domain: string): TokenBucket;
}

type Handshaker = Pick<DialerHandshake, "step">;

export class LinkEndpoint {
  private peer: PeerConfig | undefined;
  private closed = false;

  private constructor(
    private readonly d: LinkEndpointDeps,
    private readonly handshake: Handshaker,
    private readonly dialer: DialerHandshake | undefined,
  ) {}

  /** The side that dials `peer`. */
  static dialer(d: LinkEndpointDeps & { peer: PeerConfig }): LinkEndpoint {
    const hs = new DialerHandshake({ self: d.self, peer: d.peer, rng: d.rng });
    return new LinkEndpoint(d, hs, hs);
  }

  /** The side that accepted a connection; `policy` decides who may link. */
  static acceptor(d: LinkEndpointDeps & { policy: PeerPolicy }): LinkEndpoint {
    const hs = new AcceptorHandshake({ self: d.self, policy: d.policy, rng: d.rng });
    return new LinkEndpoint(d, hs, undefined);
  }

  /** The peer, once the link is up. */
  get up(): PeerConfig | undefined {
    return this.closed ? undefined : this.peer;
  }

  /** What the dialer sends first (nothing for an acceptor: it waits for FED_HELLO). */
  start(): LinkEvent[] {
    return this.dialer === undefined ? [] : [{ kind: "send", frame: this.dialer.hello() }];
  }

  /** One frame from the other side. Never throws for anything the peer sent. */
  receive(frame: Frame): LinkEvent[] {
    if (this.closed) return [];
    const peer = this.peer;
    if (peer === undefined) return this.onStep(this.handshake.step(frame));
    const h = frame.header;
    if (h.senderId !== 0n || (h.flags & Flag.FEDERATED) === 0) {
      return [
        {
          kind: "dropped",
          peer: peer.domain,
          code: "FORBIDDEN",
          message: "links carry hub frames (sender 0, FEDERATED)",
        },
      ];
    }
    if (!this.d.bucketFor(peer.domain).take()) {
      return [
        {
          kind: "dropped",
          peer: peer.domain,
          code: "RATE_LIMITED",
          message: "peer rate limit exceeded",
        },
      ];
    }
    return [{ kind: "frame", peer: peer.domain, bytes: frame.toWire() }];
  }

  private onStep(step: LinkStep): LinkEvent[] {
    switch (step.kind) {
      case "send":
        return [{ kind: "send", frame: step.frame }];
      case "up": {
        this.peer = step.peer;
        const out: LinkEvent[] =
          step.frame === undefined ? [] : [{ kind: "send", frame: step.frame }];
        out.push({ kind: "up", peer: step.peer, maxHops: step.maxHops });
        return out;
      }
      case "refused": {
        this.closed = true;
        const out: LinkEvent[] =
          step.frame === undefined ? [] : [{ kind: "send", frame: step.frame }];
        out.push({
          kind: "closed",
          code: step.code,
          message: step.message,
          remote: step.remote,
          ...(step.peer === undefined ? {} : { peer: step.peer }),
        });
        return out;
      }
    }
  }
}
