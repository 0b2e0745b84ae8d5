/**
 * The client's real `HubConnection`, whatever carries the frames: a channel to kalandrad
 * (a WebTransport stream, webTransport.ts, or a WebSocket, webSocket.ts), the device's auth
 * handshake, and reconnection with exponential backoff and full jitter.
 *
 * Handshake (docs/operations.md "Sessions"): HELLO → AUTH_CHALLENGE (answers the HELLO,
 * carries a fresh nonce and the hub key) → AUTH_RESPONSE (echoes the nonce, signed by the
 * device) → AUTH_OK. It runs on every (re)connect before frames are released, using
 * request ids from a reserved range so they never collide with the client core's. The
 * client core may run the same handshake again over the open session (kalandrad answers a
 * repeated HELLO of the same device).
 *
 * After a reconnect, `onReconnect` listeners run: the client core resumes each room from
 * its last log_index (SYNC_REQUEST) and resends unanswered requests; (sender_id,
 * request_id) idempotency on the hub makes those resends safe, so nothing is lost.
 */

import { type DeviceSigner, deriveSenderId, type Frame } from "@kalandra/proto";
import type { HelloAuthProvider } from "../state/helloAuth.js";
import type { HubConnection } from "../state/hubLink.js";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
import { TransportError } from "./errors.js";
import { SessionHandshake } from "./sessionHandshake.js";

/** Request ids the transport's handshakes use (the client core counts up from 1). */

/** Most frames kept for a listener that registers after AUTH_OK (`onFrame`). */
const MAX_EARLY_FRAMES = 1024;

export const HANDSHAKE_REQUEST_ID_BASE = 0xfff0_0000;

/** One open connection to the hub carrying whole frames both ways. */
export interface FrameChannel {
  /** Writes one whole frame. */
  write(frame: Uint8Array): Promise<void>;
  /** Hands every frame read to `onFrame` until the channel ends, then calls `onEnd` (repeats are ignored). */
  start(onFrame: (f: Frame) => void, onEnd: () => void): void;
  close(): void;
}

export interface ReconnectOptions {
  deviceSigner: DeviceSigner;
  userId: string;
  /** When given, the hub must present this key and sign its handshake frames with it. */
  hubPublicKey?: Uint8Array;
  /** Client name sent in HELLO. */
  client?: string;
  /** What HELLO presents to prove the user (DESIGN §10); none for a bound device. */
  auth?: HelloAuthProvider;
  backoff?: Partial<BackoffOptions>;
  /** Frames kept while disconnected; older ones beyond it are dropped (the core resends). */
  maxQueuedFrames?: number;
  /** Largest payload accepted from the hub. */
  maxPayload?: number;
  /** Time allowed for one connect + handshake. */
  connectTimeoutMs?: number;
}

export type ConnectionState = "connecting" | "open" | "closed";

/** A `HubConnection` that survives disconnects. */
export interface ReconnectingConnection extends HubConnection {
  /** Runs after every successful re-connection (not the first): resume from the last log_index. */
  onReconnect(cb: () => void): void;
  onStateChange(cb: (state: ConnectionState) => void): void;
  readonly state: ConnectionState;
  /** The device's sender_id as the hub confirmed it in AUTH_OK. */
  readonly senderId: bigint;
  /** Completed (re)connections, the first included. */
  readonly connections: number;
  /** The PING interval the hub asked for in the current session's AUTH_OK (`ping_ms`). */
  readonly pingMs: number | undefined;
  /** Frames dropped because the disconnected queue was full. */
  readonly dropped: number;
  /** Drops the open channel (the core found the hub silent) and reconnects with backoff. */
  drop(reason: string): void;
}

/**
 * Connects through `openChannel` and authenticates; resolves once the hub answered AUTH_OK
 * (rejects with TransportError if the first attempt fails). Later disconnects are healed
 * in the background with new channels.
 */
export async function connectReconnecting(
  o: ReconnectOptions & { defaultClient: string },
  openChannel: (maxPayload: number) => Promise<FrameChannel>,
): Promise<ReconnectingConnection> {
  const c = new Conn(o, openChannel);
  await c.connectOnce();
  return c;
}

class Conn implements ReconnectingConnection {
  state: ConnectionState = "connecting";
  senderId: bigint;
  connections = 0;
  dropped = 0;
  pingMs: number | undefined;
  private readonly frameCbs: ((f: Uint8Array) => void)[] = [];
  /** Frames read after AUTH_OK while no `onFrame` listener was registered yet. */
  private early: Uint8Array[] = [];
  private readonly reconnectCbs: (() => void)[] = [];
  private readonly stateCbs: ((s: ConnectionState) => void)[] = [];
  private queue: Uint8Array[] = [];
  private channel: FrameChannel | undefined;
  private handshakeId = HANDSHAKE_REQUEST_ID_BASE;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff: BackoffOptions;

  constructor(
    private readonly o: ReconnectOptions & { defaultClient: string },
    private readonly openChannel: (maxPayload: number) => Promise<FrameChannel>,
  ) {
    this.senderId = deriveSenderId(o.deviceSigner.publicKey);
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
  }

  send(frame: Uint8Array): void {
    if (this.state === "closed") return;
    if (this.state === "open" && this.channel) {
      this.write(this.channel, frame);
      return;
    }
    this.queue.push(frame);
    const max = this.o.maxQueuedFrames ?? 10_000;
    while (this.queue.length > max) {
      this.queue.shift();
      this.dropped++;
    }
  }

  onFrame(cb: (frame: Uint8Array) => void): void {
    this.frameCbs.push(cb);
    // Frames read before anyone listened: the hub pushes a device's waiting Welcomes right
    // after AUTH_OK, before the client has taken the connection over.
    const early = this.early;
    this.early = [];
    for (const f of early) cb(f);
  }

  onReconnect(cb: () => void): void {
    this.reconnectCbs.push(cb);
  }

  onStateChange(cb: (state: ConnectionState) => void): void {
    this.stateCbs.push(cb);
  }

  /** The client core found the hub silent: drop this channel and reconnect with backoff. */
  drop(_reason: string): void {
    const channel = this.channel;
    if (this.state !== "open" || channel === undefined) return;
    this.channel = undefined;
    channel.close();
    this.lost();
  }

  close(): void {
    if (this.state === "closed") return;
    this.setState("closed");
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue = [];
    const channel = this.channel;
    this.channel = undefined;
    channel?.close();
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    for (const cb of this.stateCbs) cb(s);
  }

  private write(channel: FrameChannel, frame: Uint8Array): void {
    channel.write(frame).catch(() => undefined); // a failed write surfaces as a lost channel
  }

  /** One connection attempt: channel and handshake. Resolves once AUTH_OK arrived. */
  async connectOnce(): Promise<void> {
    const timeout = this.o.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let channel: FrameChannel | undefined;
    let abandoned = false;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TransportError("TIMEOUT", `no session within ${timeout} ms`)),
        timeout,
      );
    });
    const attempt = (async () => {
      channel = await this.openChannel(this.o.maxPayload ?? 16 * 1024 * 1024);
      if (abandoned) channel.close();
      else await this.open(channel);
    })();
    attempt.catch(() => undefined);
    try {
      await Promise.race([attempt, deadline]);
    } catch (e) {
      abandoned = true;
      channel?.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private async open(channel: FrameChannel): Promise<void> {
    const handshake = new SessionHandshake({
      deviceSigner: this.o.deviceSigner,
      senderId: this.senderId,
      userId: this.o.userId,
      client: this.o.client ?? this.o.defaultClient,
      auth: this.o.auth,
      hubPublicKey: this.o.hubPublicKey,
      write: (frame) => channel.write(frame),
      nextRequestId: () => this.nextHandshakeId(),
    });
    let ended = false;
    channel.start(
      (f) => {
        if (ended) return;
        if (!handshake.authenticated) {
          handshake.receive(f);
          return;
        }
        const bytes = f.toWire();
        if (this.frameCbs.length === 0) {
          if (this.early.length < MAX_EARLY_FRAMES) this.early.push(bytes);
          return;
        }
        for (const cb of this.frameCbs) cb(bytes);
      },
      () => {
        if (ended) return;
        ended = true;
        handshake.abort(new TransportError("CLOSED", "session closed during the handshake"));
        if (this.channel === channel) this.lost();
      },
    );
    const { pingMs } = await handshake.run();
    this.pingMs = pingMs;
    if (this.state === "closed") {
      channel.close();
      return;
    }
    this.channel = channel;
    this.connections++;
    this.attempt = 0;
    const queued = this.queue;
    this.queue = [];
    for (const f of queued) this.write(channel, f);
    this.setState("open");
  }

  private nextHandshakeId(): number {
    const id = this.handshakeId;
    this.handshakeId =
      this.handshakeId >= 0xffff_ffff ? HANDSHAKE_REQUEST_ID_BASE : this.handshakeId + 1;
    return id;
  }

  /** The channel ended without close(): reconnect with backoff. */
  private lost(): void {
    if (this.state === "closed") return;
    this.channel = undefined;
    this.setState("connecting");
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.state === "closed" || this.retryTimer) return;
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connectOnce().then(
        () => {
          for (const cb of this.reconnectCbs) cb();
        },
        () => this.scheduleRetry(),
      );
    }, delay);
  }
}
