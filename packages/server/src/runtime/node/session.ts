/**
 * One client session, independent of the socket under it: framing (the stream decoder),
 * the auth handshake (session/handshake.ts), admission of each frame (session/admission.ts:
 * rates, sender_id, signature, strikes) and, when the runtime verifies off-thread, the
 * ordered verify queue (session/verifyQueue.ts). The transport feeds bytes in; each frame
 * is parsed and verified here once, and the parsed frame goes to the hub (SessionHub,
 * hub/hubHost.ts), which does not parse or verify it again.
 *
 * A peer hub connects to the same listeners: a connection whose first frame is FED_HELLO
 * is handed to the federation links (`SessionDeps.links`, runtime/node/federation/) and from
 * then on only carries frames: no device handshake, no device admission, never attached to
 * the hub as a session. Without `links` (federation disabled) FED_HELLO is refused like
 * any frame before HELLO.
 */
import {
  type Clock,
  decodePayload,
  encodePayload,
  errorFrame,
  Flag,
  Frame,
  hubFrame,
  isEphemeral,
  isProtocolError,
  Keepalive,
  Opcode,
  type ProtocolError,
  type ProtocolErrorCode,
  type Rng,
  responseFrame,
  StreamDecoder,
  type TimerHandle,
  type Timers,
  verifyFrame,
} from "@kalandra/proto";
import type { Logger } from "pino";
import type { TokenBucket } from "../../hub/tokenBucket.js";
import type { AuthRequest, AuthVerdict } from "../../identity/authenticator.js";
import { Admission, type AdmissionRefusal } from "../../session/admission.js";
import {
  HANDSHAKE_OPCODES,
  Handshake,
  type HandshakeStep,
  PRE_AUTH_MAX_PAYLOAD,
  type SessionIdentity,
} from "../../session/handshake.js";
import { type AsyncVerifier, VerifyQueue } from "../../session/verifyQueue.js";
import type { LinkAcceptor, LinkInbound } from "./federation/linkIo.js";
import type { Metrics } from "./metrics.js";
import { type HubKey, hubKeySigner } from "./wire.js";

/** What a session needs of the hub (hub/hubHost.ts implements it). */
export interface SessionHub {
  /**
   * Which user the device speaks for (identity/authentication.ts), asked once the device
   * proved its key; the session's user is the verdict's for the session's life.
   */
  authenticate(req: AuthRequest): Promise<AuthVerdict>;
  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void;
  /**
   * Why this session may not become one of `userId`'s (`max_sessions_per_user`), or
   * undefined, which counts the session for the user; asked before a new device is bound
   * and right before AUTH_OK (`attachSession` follows in the same step).
   */
  refuseUser?(sessionId: string, userId: string): string | undefined;
  detachSession(sessionId: string): void;
  /** A frame this session parsed and verified (sender_id and signature are its device's). */
  handleFrame(sessionId: string, frame: Frame): void | Promise<void>;
  /** The rate limit shared by every session of a device. */
  deviceBucket(senderId: bigint): TokenBucket;
}

/** Limits a session enforces itself; the rest (devices, rooms, members) the hub enforces. */
export interface SessionLimits {
  maxPayloadBytes: number;
  connectionRatePerSec: number;
  connectionBurst: number;
  maxStrikes: number;
  authTimeoutMs: number;
  /** Silence from an authenticated client after which the hub PINGs it (0 = never). */
  keepaliveIntervalMs: number;
  /** Silence after which the hub closes the session (0 = never). */
  idleTimeoutMs: number;
  /**
   * The client PING interval AUTH_OK asks for (`ping_ms`) where the transport keeps the
   * session alive (`SessionIo.keepsAlive`); 0 or absent = not said.
   */
  clientPingIntervalMs?: number;
}

/** What a session may do to its socket. */
export interface SessionIo {
  /** Writes one whole frame on the session's stream. */
  send(frame: Uint8Array): void;
  /** Sends an ephemeral frame as a datagram when possible; false = caller uses the stream. */
  sendDatagram?(frame: Uint8Array): boolean;
  /** Closes the session after pending writes. */
  close(reason: string): void;
  /**
   * The device authenticated (first AUTH_OK; `device` is absent for a peer hub's link): a
   * transport that capped what it buffers before authentication may raise the cap to
   * `maxPayloadBytes` (wsTransport.ts); a WebSocket front answers the device's PINGs
   * (websocket/frontPings.ts).
   */
  authenticated?(device?: { publicKey: Uint8Array; senderId: bigint }): void;
  /**
   * The transport watches the authenticated client's liveness itself (a WebSocket front:
   * ping frames, then `Session.silent` at the idle timeout): the session runs no keep-alive
   * timer and sends no PING of its own.
   */
  keepsAlive?: boolean;
}

export interface SessionDeps {
  id: string;
  io: SessionIo;
  hubKey: HubKey;
  hub: SessionHub;
  limits: SessionLimits;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  metrics?: Metrics;
  log?: Logger;
  /**
   * Verifies frame signatures off this thread (runtime/node/asyncVerify.ts), frames still
   * handed on in arrival order. Absent: verified at once. The deterministic simulation
   * runs this class without it: it must not depend on thread-pool timing.
   */
  verifyAsync?: AsyncVerifier;
  /** Accepts peer hubs' links (federation enabled); absent: FED_HELLO is refused as today. */
  links?: LinkAcceptor;
}

/** A frame waiting for its signature's verdict. */
interface Verifying {
  frame: Frame;
  datagram: boolean;
}

export class Session {
  private readonly handshake: Handshake;
  /**
   * Made on the first frame that needs it (`admission`, `verifyQueue`): an idle session
   * whose PINGs its front answers never does (issue 15: less per session for the GC).
   */
  private admitting: Admission | undefined;
  private verifying: VerifyQueue<Verifying> | undefined;
  /**
   * Framing of a byte stream (WebTransport), made on the first chunk: a WebSocket session,
   * whose messages are whole frames, never needs one (an idle session keeps what it needs).
   */
  private decoder: StreamDecoder | undefined;
  private authTimer: TimerHandle | undefined;
  /** From AUTH_OK on: PING when quiet, close when silent (proto keepalive.ts). */
  private keepalive: Keepalive | undefined;
  /** Nonce of the hub's next PING. */
  private pingNonce = 0;
  private isClosed = false;
  /** Set when this connection became a peer hub's link (its first frame was FED_HELLO). */
  private link: LinkInbound | undefined;
  private linkUp = false;

  constructor(private readonly d: SessionDeps) {
    this.handshake = new Handshake(d.rng);
    this.authTimer = d.timers.set(d.limits.authTimeoutMs, () => {
      this.authTimer = undefined;
      if (!this.isClosed && this.handshake.identity === undefined) {
        this.reject("UNAUTHENTICATED", `no authentication within ${d.limits.authTimeoutMs} ms`);
        this.close("authentication timeout");
      }
    });
  }

  get id(): string {
    return this.d.id;
  }

  /** The session's rates and strikes (a full bucket when made, as it would be by now). */
  private get admission(): Admission {
    this.admitting ??= new Admission(this.d.limits, this.d.clock);
    return this.admitting;
  }

  /** The frames being verified off this thread (the runtime's `verifyAsync`), in order. */
  private verifyQueue(verify: AsyncVerifier): VerifyQueue<Verifying> {
    this.verifying ??= new VerifyQueue(verify, ({ frame, datagram }, ok) => {
      const me = this.handshake.identity;
      if (me === undefined || this.isClosed) return false; // closed meanwhile
      this.afterVerify(frame, datagram, ok, me);
      return true;
    });
    return this.verifying;
  }

  get senderId(): bigint | undefined {
    return this.authenticated ? this.handshake.identity?.senderId : undefined;
  }

  get userId(): string | undefined {
    return this.authenticated ? this.handshake.identity?.userId : undefined;
  }

  get authenticated(): boolean {
    return !this.isClosed && this.handshake.identity !== undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * The largest payload a frame may declare now: small until AUTH_OK, so an unauthenticated
   * peer cannot make the hub hold a max_payload_bytes frame (one rule for both transports).
   */
  private get payloadLimit(): number {
    const max = this.d.limits.maxPayloadBytes;
    const proved = this.handshake.identity !== undefined || this.linkUp;
    return proved ? max : Math.min(PRE_AUTH_MAX_PAYLOAD, max);
  }

  /** Applies changed limits (SIGHUP); the payload limit applies to sessions opened afterwards. */
  reconfigure(limits: SessionLimits): void {
    this.d.limits = limits;
    this.admitting?.reconfigure(limits);
    this.keepalive?.reconfigure(keepaliveOptions(limits));
  }

  /** Bytes from the session's stream. Bad bytes end this session only (DESIGN §3). */
  onBytes(chunk: Uint8Array): void {
    if (this.isClosed) return;
    this.keepalive?.heard();
    this.d.metrics?.bytesReceived.inc(chunk.length);
    let frames: Frame[];
    try {
      // Until AUTH_OK only handshake-sized frames: the limit is raised in onHandshake.
      this.decoder ??= new StreamDecoder({ maxPayload: this.payloadLimit });
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    for (const f of frames) {
      if (this.isClosed) return;
      this.onFrame(f, false);
    }
  }

  /**
   * One message that must hold exactly one whole frame (WebSocket): a truncated frame, two
   * frames or trailing bytes are refused like bad stream bytes, and end the session.
   */
  onMessage(bytes: Uint8Array): void {
    if (this.isClosed) return;
    this.keepalive?.heard();
    this.d.metrics?.bytesReceived.inc(bytes.length);
    let frame: Frame;
    try {
      frame = Frame.fromWire(bytes, { maxPayload: this.payloadLimit });
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    this.onFrame(frame, false);
  }

  /** Input the transport itself found unusable (e.g. a text WebSocket message): ERROR, then close. */
  onWireError(e: ProtocolError): void {
    if (!this.isClosed) this.refuseStream(e);
  }

  /** A datagram: one whole frame, ephemeral opcodes only; bad ones are dropped (nothing to answer). */
  onDatagram(bytes: Uint8Array): void {
    if (!this.authenticated) return;
    this.keepalive?.heard();
    let frame: Frame;
    try {
      frame = Frame.fromWire(bytes, { maxPayload: this.d.limits.maxPayloadBytes });
    } catch {
      return;
    }
    if (isEphemeral(frame.header.opcode)) this.onFrame(frame, true);
  }

  /** The peer finished its stream. */
  onEnd(): void {
    if (this.isClosed) return;
    try {
      this.decoder?.end();
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    this.close("peer ended stream");
  }

  /** Delivers a frame the hub produced for this session (ephemeral ones as datagrams when possible). */
  deliver(frame: Uint8Array): void {
    if (this.isClosed) return;
    const opcode = frame.length >= 8 ? (frame[6] ?? 0) * 256 + (frame[7] ?? 0) : 0;
    if (this.d.io.sendDatagram && isEphemeral(opcode) && this.d.io.sendDatagram(frame)) {
      this.d.metrics?.messagesSent.inc();
      return;
    }
    this.emit(frame);
  }

  /**
   * The client sent nothing for `silentMs`, at least `idle_timeout_ms` (the session's own
   * keep-alive, or the transport's when it `keepsAlive`): the session is closed as idle.
   */
  silent(silentMs: number): void {
    if (this.isClosed) return;
    this.d.metrics?.sessionsIdleClosed.inc();
    this.d.log?.info({ session: this.d.id, silentMs }, "session closed: client silent");
    this.close("idle timeout");
  }

  close(reason: string): void {
    if (this.isClosed) return;
    const wasReady = this.handshake.identity !== undefined;
    this.isClosed = true;
    if (this.authTimer) this.d.timers.clear(this.authTimer);
    this.keepalive?.stop();
    if (wasReady) this.d.hub.detachSession(this.d.id);
    this.link?.closed(reason);
    this.d.io.close(reason);
  }

  private emit(frame: Uint8Array): void {
    this.d.metrics?.messagesSent.inc();
    this.d.metrics?.bytesSent.inc(frame.length);
    this.d.io.send(frame);
  }

  private refuseStream(e: unknown): void {
    const code: ProtocolErrorCode = isProtocolError(e) ? e.code : "INTERNAL";
    const message = isProtocolError(e) ? e.message : "internal error";
    this.reject(code, message);
    this.close(`wire error ${code}`);
  }

  private reject(code: ProtocolErrorCode, message: string, requestId = 0, roomId = 0n): void {
    this.d.metrics?.framesRejected.inc({ code });
    this.d.log?.debug({ session: this.d.id, code }, "frame rejected");
    this.emit(errorFrame({ requestId, roomId }, { code, message }));
  }

  private strike(
    code: ProtocolErrorCode,
    message: string,
    requestId: number,
    roomId: bigint,
  ): void {
    this.reject(code, message, requestId, roomId);
    if (this.admission.strike()) {
      this.d.log?.info(
        { session: this.d.id, code, strikes: this.admission.strikeCount },
        "session closed after repeated violations",
      );
      this.close(`too many violations (${code})`);
    }
  }

  /** An ERROR for a frame not admitted; a strike when the refusal counts as one. */
  private refuse(r: AdmissionRefusal, requestId: number, roomId: bigint): void {
    if (r.strike) this.strike(r.code, r.message, requestId, roomId);
    else this.reject(r.code, r.message, requestId, roomId);
  }

  private respond(opcode: Opcode, requestId: number, payload: Uint8Array, roomId = 0n): void {
    this.emit(responseFrame(hubKeySigner(this.d.hubKey), { requestId, roomId }, opcode, payload));
  }

  /** Runs `action` after the frames still being verified (at once when there are none). */
  private inOrder(action: () => void): void {
    // No queue yet: nothing was ever verified off this thread.
    if (this.verifying === undefined) action();
    else this.verifying.inOrder(() => !this.isClosed && action());
  }

  private onFrame(frame: Frame, datagram: boolean): void {
    const h = frame.header;
    if (this.link !== undefined) {
      if (!datagram) this.link.receive(frame);
      return;
    }
    const me = this.handshake.identity;
    if (h.opcode === Opcode.FED_HELLO && this.d.links && this.handshake.state.kind === "new") {
      this.becomeLink(this.d.links).receive(frame);
      return;
    }
    if (me === undefined || HANDSHAKE_OPCODES.has(h.opcode)) {
      this.inOrder(() => this.onHandshake(this.handshake.step(frame)));
      return;
    }
    const refused = this.admission.beforeVerify(h.senderId, me.senderId, h.flags);
    if (refused !== undefined) {
      this.inOrder(() => this.refuse(refused, h.requestId, h.roomId));
      return;
    }
    if (this.d.verifyAsync === undefined) {
      this.afterVerify(frame, datagram, verifyFrame(frame, me.publicKey), me);
      return;
    }
    // Verified off this thread, ~120 µs of CPU per frame; the session's frames still reach
    // the hub in the order they arrived.
    this.verifyQueue(this.d.verifyAsync).push({ frame, datagram }, frame, me.publicKey);
  }

  private afterVerify(
    frame: Frame,
    datagram: boolean,
    verified: boolean,
    me: SessionIdentity,
  ): void {
    const h = frame.header;
    const refused = this.admission.afterVerify(verified, this.d.hub.deviceBucket(me.senderId));
    if (refused !== undefined) {
      this.refuse(refused, h.requestId, h.roomId);
      return;
    }
    if (h.opcode === Opcode.PING) {
      this.pong(frame);
      return;
    }
    // The answer to the hub's PING: hearing it was the point (keepalive.heard in onBytes).
    if (h.opcode === Opcode.PONG) return;
    if (datagram && !isEphemeral(h.opcode)) return;
    this.d.metrics?.framesReceived.inc({ opcode: h.opcode });
    const end = this.d.metrics?.frameHandling.startTimer();
    try {
      const r = this.d.hub.handleFrame(this.d.id, frame);
      if (r instanceof Promise) r.catch((e) => this.handlerFailed(e, h.requestId, h.roomId));
    } catch (e) {
      this.handlerFailed(e, h.requestId, h.roomId);
    } finally {
      end?.();
    }
  }

  /** Hands this connection to the federation links; the link's own timeout replaces the auth timer. */
  private becomeLink(links: LinkAcceptor): LinkInbound {
    if (this.authTimer) this.d.timers.clear(this.authTimer);
    this.authTimer = undefined;
    this.link = links.accept(this.d.id, {
      send: (f) => {
        if (!this.isClosed) this.emit(f);
      },
      close: (reason) => this.close(reason),
      up: () => {
        this.linkUp = true;
        this.decoder?.setPayloadLimit(this.payloadLimit);
        this.d.io.authenticated?.();
      },
    });
    return this.link;
  }

  /**
   * PONG echoes the PING's nonce re-encoded, never the received bytes: a PING carries its
   * schema `{nonce}` and nothing else (issue 12: a 16 MiB non-schema PING came back signed).
   */
  private pong(frame: Frame): void {
    const h = frame.header;
    let nonce: number;
    try {
      ({ nonce } = decodePayload(Opcode.PING, frame.payload));
    } catch (e) {
      const message = isProtocolError(e) ? e.message : "PING payload is not {nonce}";
      this.strike("BAD_PAYLOAD", message, h.requestId, h.roomId);
      return;
    }
    this.respond(Opcode.PONG, h.requestId, encodePayload(Opcode.PONG, { nonce }), h.roomId);
  }

  /**
   * Watches the authenticated client: a PING (signed by the hub, EXTERNAL like every frame
   * the hub originates) after `keepaliveIntervalMs` of silence, the session closed after
   * `idleTimeoutMs` (docs/protocol.md "Keep-alive"). A client that pings on its own more
   * often than the hub's interval (the client core does) is never pinged by the hub.
   */
  private startKeepalive(): void {
    this.keepalive = new Keepalive(keepaliveOptions(this.d.limits), {
      clock: this.d.clock,
      timers: this.d.timers,
      ping: () => {
        this.pingNonce = (this.pingNonce + 1) >>> 0;
        const nonce = this.pingNonce;
        this.emit(
          hubFrame(
            hubKeySigner(this.d.hubKey),
            Opcode.PING,
            0n,
            0n,
            { nonce },
            Flag.EXTERNAL,
            nonce,
          ),
        );
      },
      dead: (silentMs) => this.silent(silentMs),
    });
    this.keepalive.start();
  }

  private handlerFailed(e: unknown, requestId: number, roomId: bigint): void {
    this.d.log?.error(
      { session: this.d.id, err: e instanceof Error ? e.message : String(e) },
      "hub core failed on a frame",
    );
    if (!this.isClosed) this.reject("INTERNAL", "internal error", requestId, roomId);
  }

  /**
   * Asks the hub who the device speaks for; the wait counts against the auth timer (a
   * verdict arriving after the session closed is dropped).
   */
  private authenticate(step: Extract<HandshakeStep, { kind: "authenticate" }>): void {
    const { claim, requestId } = step;
    const req: AuthRequest = {
      deviceKey: claim.publicKey,
      senderId: claim.senderId,
      claimedUserId: claim.claimedUserId,
      nowSeconds: this.d.clock.now() / 1000n,
      beforeBind: (userId) => {
        const capped = this.d.hub.refuseUser?.(this.d.id, userId);
        if (capped === undefined) return undefined;
        this.d.metrics?.connectionsRefused.inc({ reason: "TOO_MANY_CONNECTIONS" });
        return { ok: false, code: "TOO_MANY_CONNECTIONS", message: capped };
      },
      ...(claim.auth === undefined
        ? {}
        : { method: claim.auth.method, credential: claim.auth.credential }),
    };
    const settle = (v: AuthVerdict): void => {
      if (!this.isClosed) this.onHandshake(this.handshake.settle(v, requestId));
    };
    let pending: Promise<AuthVerdict>;
    try {
      pending = this.d.hub.authenticate(req);
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(settle, (e: unknown) => {
      this.d.log?.error(
        { session: this.d.id, err: e instanceof Error ? e.message : String(e) },
        "authentication failed",
      );
      settle({ ok: false, code: "AUTH_FAILED", message: "authentication failed" });
    });
  }

  /** Carries out what the handshake decided (session/handshake.ts). */
  private onHandshake(step: HandshakeStep): void {
    switch (step.kind) {
      case "authenticate":
        this.authenticate(step);
        return;
      case "repeated":
        return;
      case "challenge":
        this.respond(
          Opcode.AUTH_CHALLENGE,
          step.requestId,
          encodePayload(Opcode.AUTH_CHALLENGE, {
            nonce: step.nonce,
            hub_key: this.d.hubKey.publicKey,
          }),
        );
        return;
      case "refused":
        if (!step.fatal) {
          this.strike(step.code, step.message, step.requestId, step.roomId);
          return;
        }
        this.reject(step.code, step.message, step.requestId);
        this.close(`authentication failed: ${step.message}`);
        return;
      case "authenticated": {
        const { identity: me, requestId } = step;
        const capped = step.first ? this.d.hub.refuseUser?.(this.d.id, me.userId) : undefined;
        if (capped !== undefined) {
          this.d.metrics?.connectionsRefused.inc({ reason: "TOO_MANY_CONNECTIONS" });
          this.reject("TOO_MANY_CONNECTIONS", capped, requestId);
          this.close("too many sessions for the user");
          return;
        }
        // Only where the transport watches liveness: elsewhere the hub's own PING (60 s)
        // would come before a longer client interval, and cost more than the client's.
        const pingMs = this.d.io.keepsAlive ? (this.d.limits.clientPingIntervalMs ?? 0) : 0;
        this.respond(
          Opcode.AUTH_OK,
          requestId,
          encodePayload(Opcode.AUTH_OK, {
            sender_id: me.senderId,
            user_id: me.userId,
            ...(pingMs > 0 ? { ping_ms: pingMs } : {}),
          }),
        );
        if (!step.first) return;
        if (this.authTimer) this.d.timers.clear(this.authTimer);
        this.authTimer = undefined;
        this.decoder?.setPayloadLimit(this.payloadLimit);
        if (!this.d.io.keepsAlive) this.startKeepalive();
        this.d.io.authenticated?.(me);
        this.d.metrics?.sessionsAuthenticated.inc();
        this.d.log?.info(
          { session: this.d.id, sender: me.senderId.toString(16), user: me.userId },
          "session authenticated",
        );
        try {
          this.d.hub.attachSession(this.d.id, me.publicKey, me.userId);
        } catch (e) {
          this.handlerFailed(e, requestId, 0n);
        }
        return;
      }
    }
  }
}

function keepaliveOptions(l: SessionLimits): { intervalMs: number; timeoutMs: number } {
  return { intervalMs: l.keepaliveIntervalMs, timeoutMs: l.idleTimeoutMs };
}
