/**
 * The client's link to the hub (docs/contracts.md "Client ↔ hub transport"): it owns the
 * current `HubConnection`, signs requests with a fresh request_id, resends them until
 * answered (`RequestTracker`), routes the hub's verified responses (and its unsigned
 * ERRORs) to their requests and
 * hands every other frame to `onPush`. Frames of a replaced connection are ignored.
 *
 * Keep-alive (docs/client.md "Keep-alive", proto keepalive.ts): while a session is up
 * (`watch`), a PING goes out after `keepalive.intervalMs` without a frame from the hub; after
 * `keepalive.timeoutMs` without one the hub is declared dead: the connection is dropped
 * (`HubConnection.drop`, the transport reconnects as after any loss) and `onHubSilent` is told.
 * The hub's own PINGs are answered with a PONG.
 */
import {
  type Clock,
  decodePayload,
  Flag,
  FrameHeader,
  isHubError,
  Keepalive,
  type KeepaliveOptions,
  Opcode,
  type Rng,
  type Timers,
} from "@kalandra/proto";
import type { Device } from "./device.js";
import { ClientError } from "./errors.js";
import type { RequestIds } from "./persistence.js";
import { type RequestPolicy, RequestTracker } from "./requests.js";
import { buildFrame, parseFrame, type ReceivedFrame, verifyFrame } from "./wire.js";

/** The transport seam (docs/contracts.md "Client ↔ hub transport"). */
export interface HubConnection {
  send(frame: Uint8Array): void;
  onFrame(cb: (frame: Uint8Array) => void): void;
  close(): void;
  /**
   * The client found the connection dead (the hub silent past the keep-alive timeout): drop
   * it and reconnect as after any loss. Optional: without it the application is told
   * (`onHubSilent`) and reconnects itself.
   */
  drop?(reason: string): void;
  /**
   * The PING interval the hub asked for in this connection's AUTH_OK (`ping_ms`), where the
   * transport authenticates; undefined when it did not say.
   */
  readonly pingMs?: number | undefined;
}

/** The client's keep-alive defaults: a PING after 45 s of quiet, the hub dead after 120 s. */
export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 45_000, timeoutMs: 120_000 };

/**
 * The keep-alive for a session whose AUTH_OK asked for PINGs every `hubPingMs`: a longer
 * interval than the client's own is taken, and the timeout grows by as much, so the hub
 * still has the same time to answer a PING; a shorter one or none leaves `own` as it is
 * (the client may always ping more often), as does a client that does not ping at all.
 */
export function negotiatedKeepalive(
  own: KeepaliveOptions,
  hubPingMs: number | undefined,
): KeepaliveOptions {
  if (hubPingMs === undefined || own.intervalMs === 0 || hubPingMs <= own.intervalMs) return own;
  const longer = hubPingMs - own.intervalMs;
  return { intervalMs: hubPingMs, timeoutMs: own.timeoutMs === 0 ? 0 : own.timeoutMs + longer };
}

/** What the intents and the room sync ask of the hub. */
export interface HubRequests {
  /** Builds a signed request frame with a fresh request_id. */
  frame(
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
  ): Uint8Array;
  /** Sends a built request (resent until answered); resolves with the hub's response. */
  send(bytes: Uint8Array): Promise<ReceivedFrame>;
  /** `frame` then `send`. */
  request(
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
  ): Promise<ReceivedFrame>;
}

export interface HubLinkOptions {
  connection: HubConnection;
  clock: Clock;
  timers: Timers;
  /** PING after `intervalMs` of quiet, the hub dead after `timeoutMs` (0 = off). */
  keepalive: KeepaliveOptions;
  /** The hub was silent for `silentMs` (≥ keepalive.timeoutMs): the connection was dropped. */
  onHubSilent?(silentMs: number): void;
  policy: RequestPolicy;
  /** Jitter of retries after a hub's hint (TRANSFERRING...): none without it. */
  rng?: Rng;
  requestIds: RequestIds;
  device: Device;
  hubPublicKey: Uint8Array;
  /** A frame that is not a response (fan-out, WELCOME, COMMIT_REQUEST, KP_STATUS...). */
  onPush(f: ReceivedFrame): void;
  /** An ERROR answering a frame sent by `post` (the hub refused a PRESENCE or TYPING). */
  onPostRefused?(f: ReceivedFrame): void;
}

/** Posted frames whose refusal is still routed (a refusal comes within a round trip). */
const MAX_POSTED = 256;

export class HubLink implements HubRequests {
  readonly #o: HubLinkOptions;
  readonly #requests: RequestTracker;
  #conn: HubConnection;
  #closed = false;
  /** request_ids of the latest `post`s, to route their refusals. */
  readonly #posted = new Set<number>();
  readonly #keepalive: Keepalive;
  #pingNonce = 0;

  constructor(o: HubLinkOptions) {
    this.#o = o;
    this.#conn = o.connection;
    const rng = o.rng;
    this.#requests = new RequestTracker(
      (b) => this.#conn.send(b),
      o.timers,
      o.policy,
      rng === undefined ? undefined : () => unitFraction(rng),
    );
    this.#keepalive = new Keepalive(o.keepalive, {
      clock: o.clock,
      timers: o.timers,
      ping: () => this.#ping(),
      dead: (silentMs) => this.#hubSilent(silentMs),
    });
    this.#listen(o.connection);
  }

  /**
   * Starts the keep-alive: the session is authenticated (HubSession.connect). `hubPingMs`:
   * the interval its AUTH_OK asked for (negotiatedKeepalive).
   */
  watch(hubPingMs?: number): void {
    if (this.#closed) return;
    this.#keepalive.reconfigure(negotiatedKeepalive(this.#o.keepalive, hubPingMs));
    this.#keepalive.start();
  }

  /** What the current connection's AUTH_OK said, where the transport authenticated. */
  get connectionPingMs(): number | undefined {
    return this.#conn.pingMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  frame(opcode: number, roomId: bigint, epoch: bigint, payload: Record<string, unknown>) {
    const requestId = this.#o.requestIds.next();
    const senderId = this.#o.device.senderId;
    return buildFrame(
      { opcode, requestId, roomId, senderId, epoch, payload },
      this.#o.device.signer,
    );
  }

  send(bytes: Uint8Array): Promise<ReceivedFrame> {
    if (this.#closed) return Promise.reject(new ClientError("closed", "client closed"));
    return this.#requests.request(parseFrame(bytes).header.requestId, bytes);
  }

  request(
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
  ): Promise<ReceivedFrame> {
    return this.send(this.frame(opcode, roomId, epoch, payload));
  }

  /**
   * Sends a frame once, unacknowledged and never resent (PRESENCE, TYPING: the hub answers
   * only a refusal: `onPostRefused`). False when it was not sent: offline, or a session
   * handshake under way (a stale signal is worth nothing later).
   */
  post(opcode: number, roomId: bigint, epoch: bigint, payload: Record<string, unknown>): boolean {
    if (this.#closed || !this.#requests.sending) return false;
    const bytes = this.frame(opcode, roomId, epoch, payload);
    this.#posted.add(FrameHeader.view(bytes).requestId);
    // Only the latest ones can still be refused; the set stays small.
    if (this.#posted.size > MAX_POSTED) this.#posted.delete(this.#posted.values().next().value!);
    this.#conn.send(bytes);
    return true;
  }

  /**
   * Runs a session handshake: until it settles nothing but the handshake goes out, then
   * everything held is sent. On failure the hold ends without a resend (the retry timers
   * resend), so requests are never held forever.
   */
  async handshake<T>(authenticate: () => Promise<T>): Promise<T> {
    this.#requests.holdUntilAuthenticated();
    try {
      return await authenticate();
    } catch (e) {
      this.#requests.release();
      throw e;
    }
  }

  /** Sends every outstanding request again now (the session is authenticated). */
  resendAll(): void {
    this.#requests.resendAll();
  }

  /** The connection is lost: nothing is sent until `replace`. */
  goOffline(): void {
    this.#keepalive.stop();
    this.#requests.setOnline(false);
    this.#conn.close();
  }

  /**
   * Continues over a new connection. Requests left from the old one wait for the new
   * session's handshake: sent before it, the hub would refuse them UNAUTHENTICATED.
   */
  replace(connection: HubConnection): void {
    this.#conn = connection;
    this.#listen(connection);
    this.#requests.setOnline(true, false);
  }

  /** Fails every outstanding request and closes the connection. */
  close(): void {
    this.#closed = true;
    this.#keepalive.stop();
    this.#requests.failAll(new ClientError("closed", "client closed"));
    this.#conn.close();
  }

  /** A PING of our own (its PONG resolves no request: hearing it is the point). */
  #ping(): void {
    if (!this.#requests.sending) return; // offline or re-authenticating: nothing to probe
    this.#pingNonce = (this.#pingNonce + 1) >>> 0;
    this.#conn.send(this.frame(Opcode.PING, 0n, 0n, { nonce: this.#pingNonce }));
  }

  /** Answers the hub's PING (signed by the hub; anything else is ignored). */
  #pong(f: ReceivedFrame): void {
    if (f.header.senderId !== 0n || !verifyFrame(f, this.#o.hubPublicKey)) return;
    let nonce: number;
    try {
      ({ nonce } = decodePayload(Opcode.PING, f.payload));
    } catch {
      return;
    }
    const pong = buildFrame(
      {
        opcode: Opcode.PONG,
        requestId: f.header.requestId,
        roomId: 0n,
        senderId: this.#o.device.senderId,
        epoch: 0n,
        payload: { nonce },
      },
      this.#o.device.signer,
    );
    this.#conn.send(pong);
  }

  #hubSilent(silentMs: number): void {
    if (this.#closed) return;
    this.#conn.drop?.(`hub silent for ${silentMs} ms`);
    this.#o.onHubSilent?.(silentMs);
  }

  #listen(conn: HubConnection): void {
    conn.onFrame((bytes) => {
      if (conn !== this.#conn || this.#closed) return;
      this.#keepalive.heard();
      let f: ReceivedFrame;
      try {
        f = parseFrame(bytes);
      } catch {
        return;
      }
      if (f.header.opcode === Opcode.PING && (f.header.flags & Flag.RESPONSE) === 0) this.#pong(f);
      else if ((f.header.flags & Flag.RESPONSE) === 0) this.#o.onPush(f);
      // ERRORs come unsigned (docs/protocol.md "Signatures"): a refusal grants nothing, so
      // it is taken as is; every other response must carry the hub's signature.
      else if (isHubError(f.header)) {
        if (this.#posted.delete(f.header.requestId)) this.#o.onPostRefused?.(f);
        else this.#requests.resolve(f);
      } else if (f.header.senderId === 0n && verifyFrame(f, this.#o.hubPublicKey))
        this.#requests.resolve(f);
    });
  }
}

/** A fraction in [0, 1) from two random bytes. */
function unitFraction(rng: Rng): number {
  const b = rng.bytes(2);
  return ((b[0] ?? 0) * 256 + (b[1] ?? 0)) / 65_536;
}
