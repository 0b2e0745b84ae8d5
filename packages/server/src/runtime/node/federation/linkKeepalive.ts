/**
 * Keepalive of one up hub link, the same on both ends (docs/federation.md "Keepalive"):
 * every `intervalMs` a PING goes out (a hub frame: sender 0, FEDERATED, signed by this hub);
 * the peer answers PONG with the nonce. Anything heard from the peer is a sign of life; after
 * `2 × intervalMs` of silence the link is declared dead and closed (the dialer redials), so
 * a partition is noticed from either end, not only by the side that dialed. The PONG's
 * round trip is the link's lag (`kalandra_federation_link_rtt_seconds`).
 *
 * Time and timers are injected (DESIGN §2): the runtime passes the wall clock, tests a
 * manual one. PING/PONG frames are verified against the peer's pinned key; a bad one is
 * ignored (it is no answer and, being on the link, still counts as heard: the transport
 * under the link is the peer's connection).
 */
import {
  type Clock,
  type DeviceSigner,
  decodePayload,
  Flag,
  type Frame,
  hubFrame,
  Opcode,
  type TimerHandle,
  type Timers,
  verifyFrame,
} from "@kalandra/proto";

export interface LinkKeepaliveDeps {
  clock: Clock;
  timers: Timers;
  intervalMs: number;
  /** This hub's key (its PINGs and PONGs are signed). */
  signer: DeviceSigner;
  /** The peer's pinned hub key. */
  peerKey: Uint8Array;
  send(frame: Uint8Array): void;
  /** A PONG answered our PING after `ms`. */
  rtt(ms: number): void;
  /** Nothing heard for `silentMs`: close the link. */
  dead(silentMs: number): void;
}

export class LinkKeepalive {
  private timer: TimerHandle | undefined;
  private lastHeard: bigint;
  private nonce = 0;
  /** Nonce and send time of the PING awaiting its PONG. */
  private outstanding: { nonce: number; at: bigint } | undefined;

  constructor(private readonly d: LinkKeepaliveDeps) {
    this.lastHeard = d.clock.now();
  }

  start(): void {
    this.stop();
    this.lastHeard = this.d.clock.now();
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) this.d.timers.clear(this.timer);
    this.timer = undefined;
  }

  /** Any frame arrived from the peer. */
  heard(): void {
    this.lastHeard = this.d.clock.now();
  }

  /**
   * A frame the link passed on: true when it was a keepalive frame (answered or taken here),
   * false when it is for the federation core.
   */
  take(frame: Frame): boolean {
    const h = frame.header;
    if (h.opcode !== Opcode.PING && h.opcode !== Opcode.PONG) return false;
    if (!verifyFrame(frame, this.d.peerKey)) return true;
    let nonce: number;
    try {
      ({ nonce } = decodePayload(Opcode.PING, frame.payload));
    } catch {
      return true;
    }
    if (h.opcode === Opcode.PING) {
      const flags = Flag.FEDERATED | Flag.RESPONSE;
      this.d.send(hubFrame(this.d.signer, Opcode.PONG, 0n, 0n, { nonce }, flags, h.requestId));
    } else if (this.outstanding?.nonce === nonce) {
      this.d.rtt(Number(this.d.clock.now() - this.outstanding.at));
      this.outstanding = undefined;
    }
    return true;
  }

  private arm(): void {
    this.timer = this.d.timers.set(this.d.intervalMs, () => this.look());
  }

  private look(): void {
    this.timer = undefined;
    const now = this.d.clock.now();
    const silent = now > this.lastHeard ? Number(now - this.lastHeard) : 0;
    if (silent >= 2 * this.d.intervalMs) {
      this.d.dead(silent);
      return;
    }
    this.nonce = (this.nonce + 1) >>> 0;
    this.outstanding = { nonce: this.nonce, at: now };
    this.d.send(
      hubFrame(this.d.signer, Opcode.PING, 0n, 0n, { nonce: this.nonce }, Flag.FEDERATED, 0),
    );
    this.arm();
  }
}
