/**
 * What the hub's primary process and its WebSocket front processes (wsFronts.ts,
 * wsFront.ts) say to each other over the IPC channel (`serialization: "advanced"`: V8's
 * structured clone, so frames travel as bytes, never as JSON of Buffers).
 *
 * Both directions send batches: every operation queued during one turn of the event loop
 * leaves in one IPC message at `setImmediate`, a flat array of op code, connection id and
 * arguments. Frames the primary sends are listed once per batch and referred to by index,
 * so a fan-out of one frame to many sessions of a front crosses the channel once.
 * A new connection's socket travels alone (a handle cannot ride in a batch).
 */
import type { TransportKeepaliveOptions } from "./transportKeepalive.js";

/** Primary → front operations (in a `ToFront` batch). */
export const P = {
  /** [SEND, conn, frameIndex]: write frame `frames[frameIndex]` as one binary message. */
  SEND: 1,
  /**
   * [AUTH, conn, devicePublicKey, senderId]: the session authenticated; raise its message
   * cap to the full limit. The device (an empty key for a peer hub's link) lets the front
   * answer its PINGs (frontPings.ts).
   */
  AUTH: 2,
  /** [CLOSE, conn, code, reason]: close after the frames already sent. */
  CLOSE: 3,
} as const;

/** Front → primary operations (in a `ToPrimary` batch). */
export const F = {
  /** [OPEN, conn, peer]: a WebSocket opened from source address `peer` ("" when unknown). */
  OPEN: 1,
  /** [MESSAGE, conn, bytes]: one binary message. */
  MESSAGE: 2,
  /** [TEXT, conn]: a text message (refused by the session with its typed ERROR). */
  TEXT: 3,
  /** [SLOW, conn, queuedBytes]: the client reads too slowly (over MAX_QUEUED_BYTES queued). */
  SLOW: 4,
  /** [CLOSED, conn]: the socket is gone. */
  CLOSED: 5,
  /**
   * [SILENT, conn, silentMs]: the authenticated client sent nothing, and answered no ping
   * frame, for `keepalive.timeoutMs` (transportKeepalive.ts); the primary closes the session.
   */
  SILENT: 6,
  /**
   * [PONGED, count]: PINGs the front answered itself since its last report (frontPings.ts);
   * at most one report a second, so the answers cost the primary no IPC of their own.
   */
  PONGED: 7,
} as const;

export type Op = number | string | bigint | Uint8Array;

/** A batch to a front. */
export interface ToFront {
  t: "batch";
  frames: Uint8Array[];
  ops: Op[];
}

/** What a front is started with and told when it changes (TLS certificate, limits). */
export interface FrontSettings {
  /** The path WebSockets open on (wsTransport.ts WS_PATH). */
  path: string;
  /** PEM chain and key: the front speaks wss. Absent: plain ws. */
  tls?: { cert: string; key: string };
  /** Largest message before AUTH_OK and after it (frame limit plus margin). */
  preAuthCap: number;
  cap: number;
  /** Bytes queued to one client before the front reports it too slow. */
  maxQueuedBytes: number;
  /** The sessions' keep-alive, run by the front (`limits.keepalive_interval_ms`, `idle_timeout_ms`). */
  keepalive: TransportKeepaliveOptions;
  /**
   * The hub's private key (PKCS #8 DER) to sign the PONGs the front answers itself
   * (frontPings.ts); absent: every PING goes to the primary.
   */
  pongKey?: Uint8Array;
  /** How long after the primary's last batch or heartbeat PINGs are still answered (`vouchMs`). */
  vouchMs: number;
  /** Serve the web app (`web.static_dir`): the configuration and hub key it needs. */
  webApp?: { config: unknown; hubPublicKey: Uint8Array };
}

/** Control messages to a front (outside batches). */
export type FrontControl =
  | { t: "settings"; settings: FrontSettings }
  /** A new connection: its socket is the message's handle. */
  | { t: "conn" }
  /** Close every socket (after what is queued, at most `graceMs`) and exit. */
  | { t: "stop"; graceMs: number }
  /** The primary's heartbeat: while it comes, the front may answer PINGs (frontPings.ts). */
  | { t: "alive" };

/** What a front sends: its batches, and `ready` once it can take connections. */
export type FromFront = { t: "batch"; ops: Op[] } | { t: "ready" };

/**
 * Collects operations for one peer during a turn of the event loop and sends them as one
 * message at `setImmediate`.
 */
export class Outbox {
  private ops: Op[] = [];
  private frames: Uint8Array[] = [];
  private frameIndex = new Map<Uint8Array, number>();
  private scheduled = false;

  constructor(private readonly deliver: (batch: { frames: Uint8Array[]; ops: Op[] }) => void) {}

  push(...op: Op[]): void {
    for (const x of op) this.ops.push(x);
    this.schedule();
  }

  /** Index of `frame` in this batch's frame list (listed once however often it is sent). */
  frame(frame: Uint8Array): number {
    let i = this.frameIndex.get(frame);
    if (i === undefined) {
      i = this.frames.length;
      this.frames.push(frame);
      this.frameIndex.set(frame, i);
    }
    return i;
  }

  /** Sends what is queued now (also what `setImmediate` does). */
  flush(): void {
    this.scheduled = false;
    if (this.ops.length === 0) return;
    const batch = { frames: this.frames, ops: this.ops };
    this.ops = [];
    this.frames = [];
    this.frameIndex = new Map();
    this.deliver(batch);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}
