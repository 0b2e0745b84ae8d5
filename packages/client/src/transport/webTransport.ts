/**
 * The client's real `HubConnection`: one WebTransport session to kalandrad, one long-lived
 * bidirectional stream carrying whole frames (DESIGN §3), the device's auth handshake, and
 * reconnection with exponential backoff and full jitter.
 *
 * Handshake (docs/operations.md "Sessions"): HELLO → AUTH_CHALLENGE (answers the HELLO,
 * carries a fresh nonce and the hub key) → AUTH_RESPONSE (echoes the nonce, signed by the
 * device) → AUTH_OK. The transport runs it on every (re)connect before it releases frames,
 * using request ids from a reserved range so they never collide with the client core's.
 * The client core may run the same handshake again over the open session (kalandrad
 * answers a repeated HELLO of the same device).
 *
 * After a reconnect, `onReconnect` listeners run: the client core resumes each room from
 * its last log_index (SYNC_REQUEST) and resends unanswered requests; (sender_id,
 * request_id) idempotency on the hub makes those resends safe, so nothing is lost.
 *
 * The handshake is `sessionHandshake.ts`, the library and its flow-control options
 * `wtLibrary.ts`, the retry delays `backoff.ts`.
 */
import { type DeviceSigner, deriveSenderId, StreamDecoder } from "@kalandra/proto";
import type { HubConnection } from "../state/hubLink.js";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
import { TransportError } from "./errors.js";
import { SessionHandshake } from "./sessionHandshake.js";
import { openSession, type Wt } from "./wtLibrary.js";

export { TransportError };

/** Request ids the transport's handshakes use (the client core counts up from 1). */
export const HANDSHAKE_REQUEST_ID_BASE = 0xfff0_0000;

export interface ConnectWebTransportOptions {
  /** e.g. `https://127.0.0.1:4433/kalandra`. */
  url: string;
  /** SHA-256 of the hub's certificate (development certificates, WebTransport hash pinning). */
  certHash?: Uint8Array;
  deviceSigner: DeviceSigner;
  userId: string;
  /** When given, the hub must present this key and sign its handshake frames with it. */
  hubPublicKey?: Uint8Array;
  /** Client name sent in HELLO. */
  client?: string;
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
export interface WebTransportConnection extends HubConnection {
  /** Runs after every successful re-connection (not the first): resume from the last log_index. */
  onReconnect(cb: () => void): void;
  onStateChange(cb: (state: ConnectionState) => void): void;
  readonly state: ConnectionState;
  /** The device's sender_id as the hub confirmed it in AUTH_OK. */
  readonly senderId: bigint;
  /** Completed (re)connections, the first included. */
  readonly connections: number;
  /** Frames dropped because the disconnected queue was full. */
  readonly dropped: number;
}

class Conn implements WebTransportConnection {
  state: ConnectionState = "connecting";
  senderId: bigint;
  connections = 0;
  dropped = 0;
  private readonly frameCbs: ((f: Uint8Array) => void)[] = [];
  private readonly reconnectCbs: (() => void)[] = [];
  private readonly stateCbs: ((s: ConnectionState) => void)[] = [];
  private queue: Uint8Array[] = [];
  private wt: Wt | undefined;
  private writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  private handshakeId = HANDSHAKE_REQUEST_ID_BASE;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff: BackoffOptions;

  constructor(private readonly o: ConnectWebTransportOptions) {
    this.senderId = deriveSenderId(o.deviceSigner.publicKey);
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
  }

  send(frame: Uint8Array): void {
    if (this.state === "closed") return;
    if (this.state === "open" && this.writer) {
      this.write(frame);
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
  }

  onReconnect(cb: () => void): void {
    this.reconnectCbs.push(cb);
  }

  onStateChange(cb: (state: ConnectionState) => void): void {
    this.stateCbs.push(cb);
  }

  close(): void {
    if (this.state === "closed") return;
    this.setState("closed");
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue = [];
    const wt = this.wt;
    const writer = this.writer;
    this.wt = undefined;
    this.writer = undefined;
    (writer ? writer.close().catch(() => undefined) : Promise.resolve()).finally(() => {
      try {
        wt?.close({ closeCode: 0, reason: "client closed" });
      } catch {
        // already closed
      }
    });
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    for (const cb of this.stateCbs) cb(s);
  }

  private write(frame: Uint8Array): void {
    this.writer?.write(frame).catch(() => undefined); // a failed write surfaces as a closed session
  }

  /** One connection attempt: session, stream, handshake. Resolves once AUTH_OK arrived. */
  async connectOnce(): Promise<void> {
    const wt = await openSession(this.o.url, this.o.certHash);
    const timeout = this.o.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TransportError("TIMEOUT", `no session within ${timeout} ms`)),
        timeout,
      );
    });
    try {
      await Promise.race([this.open(wt), deadline]);
    } catch (e) {
      try {
        wt.close();
      } catch {
        // not open
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private async open(wt: Wt): Promise<void> {
    await wt.ready;
    const stream = await wt.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    const decoder = new StreamDecoder({ maxPayload: this.o.maxPayload ?? 16 * 1024 * 1024 });
    const handshake = new SessionHandshake({
      deviceSigner: this.o.deviceSigner,
      senderId: this.senderId,
      userId: this.o.userId,
      client: this.o.client ?? "kalandra-client/webtransport",
      hubPublicKey: this.o.hubPublicKey,
      write: (frame) => writer.write(frame),
      nextRequestId: () => this.nextHandshakeId(),
    });
    const reader = stream.readable.getReader();
    const pump = (async () => {
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          for (const f of decoder.push(r.value)) {
            if (!handshake.authenticated) handshake.receive(f);
            else {
              const bytes = f.toWire();
              for (const cb of this.frameCbs) cb(bytes);
            }
          }
        }
      } catch {
        // reset or undecodable bytes from the hub: treat as a lost session
      }
      handshake.abort(new TransportError("CLOSED", "session closed during the handshake"));
      if (this.wt === wt) this.lost();
    })();
    void pump;
    wt.closed.then(
      () => this.wt === wt && this.lost(),
      () => this.wt === wt && this.lost(),
    );

    await handshake.run();
    if (this.state === "closed") {
      wt.close();
      return;
    }
    this.wt = wt;
    this.writer = writer;
    this.connections++;
    this.attempt = 0;
    const queued = this.queue;
    this.queue = [];
    for (const f of queued) this.write(f);
    this.setState("open");
  }

  private nextHandshakeId(): number {
    const id = this.handshakeId;
    this.handshakeId =
      this.handshakeId >= 0xffff_ffff ? HANDSHAKE_REQUEST_ID_BASE : this.handshakeId + 1;
    return id;
  }

  /** The session ended without close(): reconnect with backoff. */
  private lost(): void {
    if (this.state === "closed") return;
    this.wt = undefined;
    this.writer = undefined;
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

/**
 * Opens a session to kalandrad and authenticates the device; resolves once the hub
 * answered AUTH_OK (rejects with TransportError if the first attempt fails). Later
 * disconnects are healed in the background.
 *
 * @example
 * const conn = await connectWebTransport({ url: "https://127.0.0.1:4433/kalandra",
 *   certHash, deviceSigner: key.signer, userId: "alice", hubPublicKey });
 * // the same connection object heals itself: re-authenticate the core and resume rooms
 * conn.onReconnect(() => void client.connect());
 */
export async function connectWebTransport(
  o: ConnectWebTransportOptions,
): Promise<WebTransportConnection> {
  const c = new Conn(o);
  await c.connectOnce();
  return c;
}
