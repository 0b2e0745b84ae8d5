/**
 * Hub links over the simulated network (issue 18): the shipped link core (`LinkEndpoint`:
 * the mutual challenge against the peer policy, the per-peer rate limit) driven the way
 * kalandrad's link runtime drives it, with the network's faults in between. The hub whose
 * domain sorts first dials and redials (backoff, connect timeout); both ends ping an up
 * link and close it when the peer falls silent (a crash or a partition is noticed from
 * either end). `linkUp`/`linkDown`/`linkFrame` go to the hub's current federation core.
 *
 * A link is a stream, as kalandrad's WebSocket is: on the wire a message is one kind byte,
 * the connection's id (a new connection never receives a closed one's bytes), its sequence
 * number on the connection and, for a frame, the frame. The receiving end delivers in
 * order and once; a message the network lost stalls the stream and, missing past
 * `stallMs`, breaks the connection (the link goes down and is redialed), as a TCP
 * connection over a lossy path fails instead of skipping bytes.
 */
import { type Clock, type DeviceSigner, Frame, type Timers } from "@kalandra/proto";
import {
  backoffDelay,
  type FederationInputs,
  LinkEndpoint,
  type LinkEvent,
  type PeerLinks,
  type PeerPolicy,
  TokenBucket,
} from "@kalandra/server";
import type { SimNetwork } from "../network.js";
import type { SeededRng } from "../rng.js";

/** Link timings of the simulation (kalandrad's are seconds; the worlds run for seconds). */
export const LINK_TIMING = {
  pingMs: 400,
  /** An up link silent this long is closed. */
  deadMs: 1300,
  connectTimeoutMs: 1000,
  /** A gap in a stream not filled within this long breaks the connection. */
  stallMs: 300,
  backoff: { minMs: 100, maxMs: 1600 },
} as const;

const KIND_FRAME = 1;
const KIND_PING = 2;
const KIND_PONG = 3;
const KIND_CLOSE = 4;
const PREFIX = 9;

interface Conn {
  readonly id: number;
  readonly peer: string;
  readonly end: LinkEndpoint;
  up: boolean;
  lastHeard: bigint;
  /** Next sequence number to send, and to deliver. */
  sent: number;
  next: number;
  /** Messages that arrived ahead of a gap, by sequence number. */
  readonly ahead: Map<number, { kind: number; body: Uint8Array }>;
  stalled: boolean;
}

export interface SimHubLinksOptions {
  domain: string;
  signer: DeviceSigner;
  policy: PeerPolicy;
  /** Configured peers (both sides list each other). */
  peers: readonly string[];
  network: SimNetwork;
  clock: Clock;
  rng: SeededRng;
  /** A world-unique connection id. */
  nextConnId(): number;
  /** The hub's federation core while the hub is up. */
  core(): FederationInputs | undefined;
  trace(line: string): void;
}

export interface LinkStats {
  ups: number;
  downs: number;
  refused: number;
  dropped: number;
}

export class SimHubLinks implements PeerLinks {
  readonly #conns = new Map<string, Conn>();
  readonly #failures = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  #timers: Timers | undefined;
  readonly stats: LinkStats = { ups: 0, downs: 0, refused: 0, dropped: 0 };

  constructor(private readonly o: SimHubLinksOptions) {}

  /** The hub (re)started: dial the peers this hub dials, start the keepalive. */
  start(timers: Timers): void {
    this.#conns.clear();
    this.#timers = timers;
    for (const p of this.o.peers) if (this.#dials(p)) this.#dial(p);
    this.#arm();
  }

  /** The hub crashed: its connections are gone (its timers die with it). */
  stop(): void {
    this.#conns.clear();
    this.#timers = undefined;
  }

  isUp(peer: string): boolean {
    return this.#conns.get(peer)?.up === true;
  }

  send(domain: string, bytes: Uint8Array): void {
    const c = this.#conns.get(domain);
    if (c?.up === true) this.#wire(c, KIND_FRAME, bytes);
  }

  /** Bytes from node `from`: true when they were a peer hub's (link traffic). */
  receive(from: string, bytes: Uint8Array): boolean {
    if (!this.o.peers.includes(from)) return false;
    if (this.#timers === undefined || bytes.length < PREFIX) return true;
    const kind = bytes[0] as number;
    const view = new DataView(bytes.buffer, bytes.byteOffset + 1, 8);
    const id = view.getUint32(0);
    const seq = view.getUint32(4);
    const body = bytes.subarray(PREFIX);
    const c = this.#conns.get(from);
    if (c !== undefined && c.id === id) {
      if (kind === KIND_CLOSE) this.#close(c, "closed by the peer", false);
      else this.#inStream(c, seq, kind, body);
      return true;
    }
    // A new connection from the peer that dials us (a redial replaces the old link).
    if (kind === KIND_FRAME && seq === 0 && !this.#dials(from)) {
      if (c !== undefined) this.#close(c, "replaced by a new connection", false);
      const conn = this.#conn(
        id,
        from,
        LinkEndpoint.acceptor({
          self: { domain: this.o.domain, signer: this.o.signer },
          policy: this.o.policy,
          rng: this.o.rng,
          bucketFor: (d) => this.#bucket(d),
        }),
      );
      this.#conns.set(from, conn);
      this.#inStream(conn, seq, kind, body);
    }
    return true;
  }

  #conn(id: number, peer: string, end: LinkEndpoint): Conn {
    const now = this.o.clock.now();
    return {
      id,
      peer,
      end,
      up: false,
      lastHeard: now,
      sent: 0,
      next: 0,
      ahead: new Map(),
      stalled: false,
    };
  }

  /** In order and once: a message ahead of a gap waits; a gap that stays breaks the link. */
  #inStream(c: Conn, seq: number, kind: number, body: Uint8Array): void {
    if (seq < c.next) return; // a duplicate
    if (seq > c.next) {
      c.ahead.set(seq, { kind, body });
      this.#stall(c);
      return;
    }
    let m: { kind: number; body: Uint8Array } | undefined = { kind, body };
    while (m !== undefined && this.#conns.get(c.peer) === c) {
      c.ahead.delete(c.next);
      c.next++;
      c.stalled = false;
      c.lastHeard = this.o.clock.now();
      if (m.kind === KIND_PING) this.#wire(c, KIND_PONG, new Uint8Array(0));
      else if (m.kind === KIND_FRAME) this.#frame(c, m.body);
      m = c.ahead.get(c.next);
    }
    if (c.ahead.size > 0) this.#stall(c);
  }

  /** Waits for the gap at `c.next`; still there after `stallMs`, the connection breaks. */
  #stall(c: Conn): void {
    if (c.stalled) return;
    c.stalled = true;
    const waiting = c.next;
    this.#timers?.set(LINK_TIMING.stallMs, () => {
      if (this.#conns.get(c.peer) === c && c.next === waiting) {
        this.#close(c, `stream broken: message ${waiting} lost`, true);
      }
    });
  }

  /** Of two peers, the one whose domain sorts first dials (docs/federation.md). */
  #dials(peer: string): boolean {
    return this.o.domain < peer;
  }

  #dial(peer: string): void {
    const admitted = this.o.policy.admit(peer);
    if (!admitted.ok) return;
    const c = this.#conn(
      this.o.nextConnId(),
      peer,
      LinkEndpoint.dialer({
        self: { domain: this.o.domain, signer: this.o.signer },
        peer: { domain: peer, hubKey: admitted.hubKey },
        rng: this.o.rng,
        bucketFor: (d) => this.#bucket(d),
      }),
    );
    this.#conns.set(peer, c);
    this.#run(c, c.end.start());
    this.#timers?.set(LINK_TIMING.connectTimeoutMs, () => {
      if (this.#conns.get(peer) === c && !c.up) this.#close(c, "connect timeout", true);
    });
  }

  #frame(c: Conn, bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = Frame.fromWire(bytes);
    } catch {
      this.stats.dropped++;
      return;
    }
    this.#run(c, c.end.receive(frame));
  }

  #run(c: Conn, events: readonly LinkEvent[]): void {
    for (const ev of events) {
      if (this.#conns.get(c.peer) !== c) return;
      switch (ev.kind) {
        case "send":
          this.#wire(c, KIND_FRAME, ev.frame);
          break;
        case "up":
          c.up = true;
          this.stats.ups++;
          this.#failures.set(c.peer, 0);
          this.o.trace(`link ${this.o.domain}–${c.peer} up (conn ${c.id})`);
          this.o.core()?.linkUp(c.peer, ev.peer.hubKey);
          break;
        case "frame":
          this.o.core()?.linkFrame(ev.peer, ev.bytes);
          break;
        case "dropped":
          this.stats.dropped++;
          break;
        case "closed":
          this.stats.refused++;
          this.#close(c, `${ev.code}: ${ev.message}`, true);
          break;
      }
    }
  }

  /** Closes `c` (telling the peer when `notify`); the dialing side redials after a delay. */
  #close(c: Conn, why: string, notify: boolean): void {
    if (this.#conns.get(c.peer) !== c) return;
    this.#conns.delete(c.peer);
    if (notify) this.#wire(c, KIND_CLOSE, new Uint8Array(0));
    this.o.trace(`link ${this.o.domain}–${c.peer} closed (conn ${c.id}): ${why}`);
    if (c.up) {
      this.stats.downs++;
      this.o.core()?.linkDown(c.peer);
    }
    if (!this.#dials(c.peer) || this.#timers === undefined) return;
    const failures = c.up ? 1 : (this.#failures.get(c.peer) ?? 0) + 1;
    this.#failures.set(c.peer, failures);
    const delay = backoffDelay(LINK_TIMING.backoff, failures, this.o.rng);
    this.#timers.set(delay, () => {
      if (!this.#conns.has(c.peer)) this.#dial(c.peer);
    });
  }

  /** Every ping interval: a silent link is closed, the others pinged. */
  #arm(): void {
    this.#timers?.set(LINK_TIMING.pingMs, () => {
      const now = this.o.clock.now();
      for (const c of [...this.#conns.values()]) {
        if (now - c.lastHeard > BigInt(LINK_TIMING.deadMs)) this.#close(c, "peer silent", true);
        else if (c.up) this.#wire(c, KIND_PING, new Uint8Array(0));
      }
      this.#arm();
    });
  }

  #wire(c: Conn, kind: number, body: Uint8Array): void {
    const m = new Uint8Array(PREFIX + body.length);
    m[0] = kind;
    const view = new DataView(m.buffer);
    view.setUint32(1, c.id);
    view.setUint32(5, kind === KIND_CLOSE ? 0 : c.sent++);
    m.set(body, PREFIX);
    this.o.network.send(this.o.domain, c.peer, m);
  }

  #bucket(domain: string): TokenBucket {
    let b = this.#buckets.get(domain);
    if (b === undefined) {
      b = new TokenBucket(100_000, 100_000, this.o.clock);
      this.#buckets.set(domain, b);
    }
    return b;
  }
}
