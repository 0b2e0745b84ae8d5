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
 * HTTP/2 mode needs raised flow-control windows on both sides (PROBES.md): the same
 * values as kalandrad's listener.
 */
import {
  type DeviceSigner,
  decodeErrorPayload,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Flag,
  type Frame,
  Opcode,
  StreamDecoder,
  verifyFrame,
} from "@kalandra/proto";
import type { HubConnection } from "../client.js";

const WINDOW = 64 * 1024 * 1024;
const STREAMS = 1_000_000;
/** Flow-control options for HTTP/2 WebTransport (PROBES.md: the defaults stall after 16 KiB). */
export const CLIENT_FLOW_OPTIONS = {
  initialStreamFlowControlWindow: WINDOW,
  initialSessionFlowControlWindow: WINDOW,
  streamFlowControlWindowSizeLimit: WINDOW,
  sessionFlowControlWindowSizeLimit: WINDOW,
  initialBidirectionalSendStreams: STREAMS,
  initialBidirectionalReceiveStreams: STREAMS,
  initialUnidirectionalSendStreams: STREAMS,
  initialUnidirectionalReceiveStreams: STREAMS,
} as const;

/** Request ids the transport's handshakes use (the client core counts up from 1). */
export const HANDSHAKE_REQUEST_ID_BASE = 0xfff0_0000;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

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

/** Error raised when the hub refuses the handshake or cannot be reached in time. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// Structural view of the library objects we use.
interface WtStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}
interface Wt {
  ready: Promise<void>;
  closed: Promise<unknown>;
  close(info?: { closeCode?: number; reason?: string }): void;
  createBidirectionalStream(): Promise<WtStream>;
}

let libPromise:
  | Promise<{ WebTransport: new (url: string, opts: unknown) => Wt; http3: boolean }>
  | undefined;
function loadLib() {
  libPromise ??= (async () => {
    const lib = (await import("@fails-components/webtransport")) as unknown as {
      WebTransport: new (url: string, opts: unknown) => Wt;
      quicheLoaded: Promise<unknown>;
    };
    let http3 = false;
    try {
      await lib.quicheLoaded;
      const name = "@fails-components/webtransport-transport-http3-quiche";
      await import(name);
      http3 = true;
    } catch {
      http3 = false;
    }
    return { WebTransport: lib.WebTransport, http3 };
  })();
  return libPromise;
}

function randomUnit(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return (b[0] ?? 0) / 0x1_0000_0000;
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
    this.backoff = { initialMs: 100, maxMs: 10_000, factor: 2, ...o.backoff };
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
    const { WebTransport, http3 } = await loadLib();
    const opts: Record<string, unknown> = { ...CLIENT_FLOW_OPTIONS, forceReliable: !http3 };
    if (this.o.certHash)
      opts.serverCertificateHashes = [{ algorithm: "sha-256", value: this.o.certHash.slice() }];
    const wt = new WebTransport(this.o.url, opts);
    wt.closed.catch(() => undefined);
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
    let authed = false;
    let pendingHandshake: ((f: Frame) => void) | undefined;
    let failHandshake: ((e: Error) => void) | undefined;
    const reader = stream.readable.getReader();
    const pump = (async () => {
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          for (const f of decoder.push(r.value)) {
            if (!authed && pendingHandshake) pendingHandshake(f);
            else if (authed) {
              const bytes = f.toWire();
              for (const cb of this.frameCbs) cb(bytes);
            }
          }
        }
      } catch {
        // reset or undecodable bytes from the hub: treat as a lost session
      }
      failHandshake?.(new TransportError("CLOSED", "session closed during the handshake"));
      if (this.wt === wt) this.lost();
    })();
    void pump;
    wt.closed.then(
      () => this.wt === wt && this.lost(),
      () => this.wt === wt && this.lost(),
    );

    // `last`: the AUTH_OK exchange. Frames the hub sends right behind AUTH_OK (a
    // COMMIT_REQUEST for a member that just became live) can arrive in the same chunk,
    // before the awaiting code runs, so the switch to "authenticated" happens here.
    const exchange = (frame: Uint8Array, expect: number, requestId: number, last = false) =>
      new Promise<Frame>((resolve, reject) => {
        failHandshake = reject;
        pendingHandshake = (f) => {
          const h = f.header;
          if (h.requestId !== requestId || (h.flags & Flag.RESPONSE) === 0) return;
          if (h.opcode === Opcode.ERROR) {
            const p = decodeErrorPayload(f.payload);
            reject(new TransportError(p.name, p.message));
          } else if (h.opcode !== expect) {
            reject(new TransportError("PROTOCOL", `expected opcode ${expect}, got ${h.opcode}`));
          } else if (this.o.hubPublicKey && !verifyFrame(f, this.o.hubPublicKey)) {
            reject(
              new TransportError(
                "BAD_SIGNATURE",
                "handshake frame not signed by the pinned hub key",
              ),
            );
          } else {
            if (last) {
              authed = true;
              pendingHandshake = undefined;
            }
            resolve(f);
          }
        };
        writer.write(frame).catch(reject);
      });

    const signer = this.o.deviceSigner;
    const helloId = this.nextHandshakeId();
    const challenge = await exchange(
      encodeFrame(
        {
          opcode: Opcode.HELLO,
          requestId: helloId,
          roomId: 0n,
          senderId: this.senderId,
          epoch: 0n,
          payload: encodePayload(Opcode.HELLO, {
            device_key: signer.publicKey,
            user_id: this.o.userId,
            client: this.o.client ?? "kalandra-client/webtransport",
          }),
        },
        signer,
      ),
      Opcode.AUTH_CHALLENGE,
      helloId,
    );
    const ch = decodePayload(Opcode.AUTH_CHALLENGE, challenge.payload);
    if (this.o.hubPublicKey && Buffer.compare(ch.hub_key, this.o.hubPublicKey) !== 0) {
      throw new TransportError("WRONG_HUB", "the hub presented another key");
    }
    const respId = this.nextHandshakeId();
    const ok = await exchange(
      encodeFrame(
        {
          opcode: Opcode.AUTH_RESPONSE,
          requestId: respId,
          roomId: 0n,
          senderId: this.senderId,
          epoch: 0n,
          payload: encodePayload(Opcode.AUTH_RESPONSE, { nonce: ch.nonce }),
        },
        signer,
      ),
      Opcode.AUTH_OK,
      respId,
      true,
    );
    if (decodePayload(Opcode.AUTH_OK, ok.payload).sender_id !== this.senderId) {
      throw new TransportError("WRONG_SENDER_ID", "the hub confirmed another sender_id");
    }
    failHandshake = undefined;
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
    const { initialMs, maxMs, factor } = this.backoff;
    const ceiling = Math.min(maxMs, initialMs * factor ** this.attempt);
    const delay = Math.round(ceiling / 2 + (ceiling / 2) * randomUnit()); // "equal jitter"
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
