/**
 * kalandrad's hub links (DESIGN §11, docs/federation.md): it dials the configured peers
 * over WebSocket (wsDialer.ts), accepts peers on its own listeners (a connection whose
 * first frame is FED_HELLO, session.ts), runs the link core (federation/link/) on each,
 * and keeps at most one up link per peer. It is the federation core's `PeerLinks`
 * (`send(domain, bytes)`) and feeds it `linkUp` / `linkDown` / `linkFrame`; it reports
 * every link's state to readiness (`Daemon.peerLinks`, `peer_links` check), counts per
 * peer (linkMetrics.ts) and audits every link it refuses (rate-limited, audit/refusals.ts).
 *
 * Who dials: of two peers, the one whose domain sorts first dials and redials (with
 * backoff, federation/link/backoff.ts); the other only accepts. One rule on both sides
 * means no two links race for one pair; a newer link from the same peer replaces an older
 * one (a restarted peer redials before the old connection is known dead).
 */
import {
  type Clock,
  Frame,
  FrameHeader,
  Opcode,
  type Rng,
  type TimerHandle,
  type Timers,
} from "@kalandra/proto";
import type { Logger } from "pino";
import { RefusalLimiter } from "../../../audit/refusals.js";
import type { Config } from "../../../config/schema.js";
import type { FederationInputs, PeerConfig, PeerPolicy } from "../../../federation/contract.js";
import {
  backoffDelay,
  LinkEndpoint,
  type LinkEvent,
  type LinkSelf,
} from "../../../federation/link/index.js";
import { staticPeerPolicy } from "../../../federation/peerPolicy.js";
import { TokenBucket } from "../../../hub/tokenBucket.js";
import type { AuditRecord } from "../../../storage/types.js";
import type { LinkAcceptor, LinkInbound, LinkIo } from "./linkIo.js";
import { LinkKeepalive } from "./linkKeepalive.js";
import type { LinkMetrics } from "./linkMetrics.js";
import type { Dialer } from "./wsDialer.js";

export type FederationConfig = Config["federation"];

export interface FederationLinksOptions {
  self: LinkSelf;
  config: FederationConfig;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  metrics: LinkMetrics;
  board: LinkStateBoard;
  audit: (record: AuditRecord) => Promise<void>;
  dialer: Dialer;
  log?: Logger;
}

type Side = "dialed" | "accepted";

/** Where link states go for readiness (runtime/node/peerLinks.ts `PeerLinks`). */
export interface LinkStateBoard {
  report(peer: string, state: "up" | "down"): void;
}

/** One connection carrying (or trying to carry) a link. */
interface Link {
  readonly side: Side;
  readonly endpoint: LinkEndpoint;
  readonly io: LinkIo;
  readonly startedAt: number;
  timer: TimerHandle | undefined;
  peer: PeerConfig | undefined;
  ended: boolean;
  /** A handshake refusal ended it (counted once, not again as a failed dial). */
  refused: boolean;
  /** Once up: PINGs both ways, the link closed when the peer falls silent. */
  keepalive: LinkKeepalive | undefined;
}

/** Per configured peer: its current link, its rate bucket, its redial state. */
interface Peer {
  entry: PeerConfig;
  url: string;
  bucket: TokenBucket;
  current: Link | undefined;
  dialing: Link | undefined;
  failures: number;
  redial: TimerHandle | undefined;
}

/** The configured peers; `url` "" for a peer reached through another (`via`, never dialed). */
export function peerEntries(config: FederationConfig): (PeerConfig & { url: string })[] {
  return config.peers.map((p) => ({
    domain: p.domain,
    url: p.url ?? "",
    hubKey: Uint8Array.from(Buffer.from(p.hub_key, "hex")),
    ...(p.via === undefined ? {} : { via: p.via }),
  }));
}

export class FederationLinks implements LinkAcceptor {
  private policy: PeerPolicy;
  private readonly peers = new Map<string, Peer>();
  private readonly refusals: RefusalLimiter;
  private consumer: FederationInputs | undefined;
  private stopped = false;

  constructor(private readonly o: FederationLinksOptions) {
    const entries = peerEntries(o.config);
    this.policy = this.makePolicy(o.config);
    for (const e of entries) {
      this.peers.set(e.domain, {
        entry: { domain: e.domain, hubKey: e.hubKey },
        url: e.url,
        bucket: new TokenBucket(o.config.peer_rate, o.config.peer_burst, o.clock),
        current: undefined,
        dialing: undefined,
        failures: 0,
        redial: undefined,
      });
    }
    this.refusals = new RefusalLimiter(o.clock);
    this.policyView = {
      domain: o.self.domain,
      maxHops: o.config.max_hops,
      admit: (domain) => this.policy.admit(domain),
      via: (domain) => this.policy.via?.(domain),
      routed: () => this.policy.routed?.() ?? [],
    };
  }

  /**
   * The peer policy in force, for the federation core's envelope checks: the same answers
   * as the link handshake's, and it follows a SIGHUP's allow/block lists.
   */
  readonly policyView: PeerPolicy;

  /** The federation core this hands link events to (set once the hub is built). */
  attach(consumer: FederationInputs): void {
    this.consumer = consumer;
  }

  /** Dials every admitted peer this hub is the dialer of. */
  start(): void {
    for (const p of this.peers.values()) {
      this.o.board.report(p.entry.domain, "down");
      this.o.metrics.linkUp.set({ peer: p.entry.domain }, 0);
      if (this.dialsTo(p)) this.dial(p);
    }
  }

  /** Is the link to `domain` up? */
  isUp(domain: string): boolean {
    return this.peers.get(domain)?.current !== undefined;
  }

  /** `PeerLinks.send`: false (and counted) when the peer has no up link. */
  send(domain: string, bytes: Uint8Array): boolean {
    const link = this.peers.get(domain)?.current;
    if (link === undefined) {
      this.o.metrics.framesRefused.inc({ peer: domain, code: "PEER_UNREACHABLE" });
      return false;
    }
    link.io.send(bytes);
    this.o.metrics.framesForwarded.inc({ peer: domain });
    return true;
  }

  /** A connection that opened with FED_HELLO (session.ts hands it over). */
  accept(sessionId: string, io: LinkIo): LinkInbound {
    const link = this.newLink(
      "accepted",
      LinkEndpoint.acceptor({
        self: this.o.self,
        policy: this.policy,
        rng: this.o.rng,
        bucketFor: (d) => this.bucketOf(d),
      }),
      io,
    );
    this.o.log?.debug({ session: sessionId }, "hub link offered");
    return {
      receive: (frame) => this.receive(link, frame),
      closed: (reason) => this.ended(link, reason),
    };
  }

  /**
   * Applies reloaded allow/block lists and per-peer rates (SIGHUP): links of peers no longer
   * admitted close at once; a peer admitted again is dialed (when this hub dials it).
   */
  reconfigure(config: FederationConfig): void {
    this.policy = this.makePolicy(config);
    for (const p of this.peers.values()) {
      p.bucket.configure(config.peer_rate, config.peer_burst);
      const admitted = this.policy.admit(p.entry.domain).ok;
      if (!admitted) {
        this.cancelRedial(p);
        for (const l of [p.current, p.dialing]) l?.io.close("federation: peer blocked");
      } else if (this.dialsTo(p) && !p.current && !p.dialing && !p.redial) {
        this.dial(p);
      }
    }
  }

  /** Closes every link and stops redialing (shutdown). */
  close(): void {
    this.stopped = true;
    for (const p of this.peers.values()) {
      this.cancelRedial(p);
      for (const l of [p.current, p.dialing]) l?.io.close("hub shutting down");
    }
  }

  private makePolicy(c: FederationConfig): PeerPolicy {
    return staticPeerPolicy({
      domain: this.o.self.domain,
      peers: peerEntries(c),
      // An empty allowlist in the file means "every configured peer".
      ...(c.allow.length > 0 ? { allow: c.allow } : {}),
      block: c.block,
      maxHops: c.max_hops,
    });
  }

  private dialsTo(p: Peer): boolean {
    if (p.url === "") return false; // reached through its via (onward relay)
    return this.o.self.domain < p.entry.domain && this.policy.admit(p.entry.domain).ok;
  }

  private bucketOf(domain: string): TokenBucket {
    const p = this.peers.get(domain);
    // The policy only brings configured peers up, so every domain here has a bucket.
    if (p === undefined) throw new Error(`no bucket for unconfigured peer ${domain}`);
    return p.bucket;
  }

  private dial(p: Peer): void {
    if (this.stopped) return;
    const endpoint = LinkEndpoint.dialer({
      self: this.o.self,
      peer: p.entry,
      rng: this.o.rng,
      bucketFor: (d) => this.bucketOf(d),
    });
    let link: Link | undefined;
    const socket = this.o.dialer.dial(p.url, {
      open: () => {
        if (link) this.run(link, endpoint.start());
      },
      frame: (frame) => {
        if (link) this.receive(link, frame);
      },
      closed: (reason) => {
        if (link) this.ended(link, reason);
      },
    });
    link = this.newLink("dialed", endpoint, socket);
    p.dialing = link;
  }

  private newLink(side: Side, endpoint: LinkEndpoint, io: LinkIo): Link {
    const link: Link = {
      side,
      endpoint,
      io,
      startedAt: performance.now(),
      timer: undefined,
      peer: undefined,
      ended: false,
      refused: false,
      keepalive: undefined,
    };
    link.timer = this.o.timers.set(this.o.config.connect_timeout_ms, () => {
      link.timer = undefined;
      if (link.peer === undefined && !link.ended) {
        this.o.metrics.linksRefused.inc({ code: "TIMEOUT", side });
        io.close(`federation: no link within ${this.o.config.connect_timeout_ms} ms`);
      }
    });
    return link;
  }

  private receive(link: Link, frame: Frame): void {
    if (link.ended) return;
    link.keepalive?.heard();
    this.run(link, link.endpoint.receive(frame));
  }

  /** True when `bytes` (a frame the link passed) was the keepalive's (PING/PONG). */
  private keepaliveFrame(link: Link, bytes: Uint8Array): boolean {
    const op = FrameHeader.view(bytes).opcode;
    if (op !== Opcode.PING && op !== Opcode.PONG) return false;
    return link.keepalive?.take(Frame.fromWire(bytes)) ?? true;
  }

  private run(link: Link, events: LinkEvent[]): void {
    for (const ev of events) {
      if (link.ended) return;
      switch (ev.kind) {
        case "send":
          link.io.send(ev.frame);
          break;
        case "up":
          this.up(link, ev.peer);
          break;
        case "frame":
          if (this.keepaliveFrame(link, ev.bytes)) break;
          this.o.metrics.framesReceived.inc({ peer: ev.peer });
          try {
            this.consumer?.linkFrame(ev.peer, ev.bytes);
          } catch (e) {
            this.o.log?.error(
              { peer: ev.peer, err: String(e) },
              "federation core failed on a link frame",
            );
          }
          break;
        case "dropped":
          this.o.metrics.framesRefused.inc({ peer: ev.peer, code: ev.code });
          this.o.log?.debug({ peer: ev.peer, code: ev.code }, "link frame dropped");
          break;
        case "closed":
          this.refused(link, ev);
          break;
      }
    }
  }

  private up(link: Link, entry: PeerConfig): void {
    const p = this.peers.get(entry.domain);
    if (p === undefined) return;
    if (link.timer) this.o.timers.clear(link.timer);
    link.timer = undefined;
    link.peer = entry;
    const old = p.current;
    if (p.dialing === link) p.dialing = undefined;
    p.current = link;
    p.failures = 0;
    this.cancelRedial(p);
    this.o.metrics.handshake.observe(
      { side: link.side },
      (performance.now() - link.startedAt) / 1000,
    );
    if (link.side === "dialed") this.o.metrics.dials.inc({ peer: entry.domain, result: "up" });
    link.io.up();
    link.keepalive = this.keepaliveOf(link, entry);
    link.keepalive.start();
    if (old !== undefined) {
      // Replaced, not down: the core keeps the peer; the old connection just goes.
      old.ended = true;
      old.keepalive?.stop();
      if (old.timer) this.o.timers.clear(old.timer);
      old.io.close("federation: replaced by a newer link");
      this.o.log?.info({ peer: entry.domain, side: link.side }, "hub link replaced");
      return;
    }
    this.o.board.report(entry.domain, "up");
    this.o.metrics.linkUp.set({ peer: entry.domain }, 1);
    this.o.log?.info({ peer: entry.domain, side: link.side }, "hub link up");
    try {
      this.consumer?.linkUp(entry.domain, entry.hubKey);
    } catch (e) {
      this.o.log?.error({ peer: entry.domain, err: String(e) }, "federation core failed on linkUp");
    }
  }

  private keepaliveOf(link: Link, entry: PeerConfig): LinkKeepalive {
    const intervalMs = this.o.config.keepalive_ms;
    return new LinkKeepalive({
      clock: this.o.clock,
      timers: this.o.timers,
      intervalMs,
      signer: this.o.self.signer,
      peerKey: entry.hubKey,
      send: (frame) => link.io.send(frame),
      rtt: (ms) => this.o.metrics.rtt.set({ peer: entry.domain }, ms / 1000),
      dead: (silentMs) => {
        this.o.log?.warn({ peer: entry.domain, silent_ms: silentMs }, "hub link silent: closing");
        link.io.close(`keepalive: nothing from the peer for ${silentMs} ms`);
      },
    });
  }

  private refused(link: Link, ev: Extract<LinkEvent, { kind: "closed" }>): void {
    link.refused = true;
    this.o.metrics.linksRefused.inc({ code: ev.code, side: link.side });
    const peer = ev.peer ?? "unknown";
    if (link.side === "dialed" && ev.peer !== undefined) {
      this.o.metrics.dials.inc({ peer: ev.peer, result: "refused" });
    }
    this.o.log?.warn(
      { peer, code: ev.code, side: link.side, by: ev.remote ? "peer" : "us", reason: ev.message },
      "hub link refused",
    );
    if (!ev.remote) {
      const detail = this.refusals.admit({ code: ev.code, message: ev.message, side: link.side });
      if (detail !== undefined) {
        const record = {
          kind: "federation_link_refused",
          at: this.o.clock.now(),
          actor: peer,
          detail,
        };
        this.o
          .audit(record)
          .catch((e: unknown) =>
            this.o.log?.error({ err: String(e) }, "audit of a refused hub link failed"),
          );
      }
    }
    link.io.close(`federation: ${ev.code}`);
  }

  /** The connection under `link` ended, for whatever reason. */
  private ended(link: Link, reason: string): void {
    if (link.ended) return;
    link.ended = true;
    link.keepalive?.stop();
    if (link.timer) this.o.timers.clear(link.timer);
    link.timer = undefined;
    const domain = link.peer?.domain ?? this.dialedPeer(link)?.entry.domain;
    const p = domain === undefined ? undefined : this.peers.get(domain);
    if (p === undefined) return;
    if (p.dialing === link) p.dialing = undefined;
    if (p.current === link) {
      p.current = undefined;
      this.o.board.report(p.entry.domain, "down");
      this.o.metrics.linkUp.set({ peer: p.entry.domain }, 0);
      this.o.log?.info({ peer: p.entry.domain, reason }, "hub link down");
      try {
        this.consumer?.linkDown(p.entry.domain);
      } catch (e) {
        this.o.log?.error(
          { peer: p.entry.domain, err: String(e) },
          "federation core failed on linkDown",
        );
      }
    } else if (link.side === "dialed" && link.peer === undefined && !link.refused) {
      this.o.metrics.dials.inc({ peer: p.entry.domain, result: "failed" });
    }
    if (link.side === "dialed") this.scheduleRedial(p, link.peer !== undefined);
  }

  private dialedPeer(link: Link): Peer | undefined {
    for (const p of this.peers.values()) if (p.dialing === link) return p;
    return undefined;
  }

  private scheduleRedial(p: Peer, wasUp: boolean): void {
    if (this.stopped || !this.dialsTo(p) || p.current || p.dialing || p.redial) return;
    p.failures = wasUp ? 1 : p.failures + 1;
    const delay = backoffDelay(
      { minMs: this.o.config.reconnect_min_ms, maxMs: this.o.config.reconnect_max_ms },
      p.failures,
      this.o.rng,
    );
    this.o.log?.debug(
      { peer: p.entry.domain, delay_ms: delay, failures: p.failures },
      "redialing hub link",
    );
    p.redial = this.o.timers.set(delay, () => {
      p.redial = undefined;
      if (!p.current && !p.dialing) this.dial(p);
    });
  }

  private cancelRedial(p: Peer): void {
    if (p.redial) this.o.timers.clear(p.redial);
    p.redial = undefined;
  }
}
