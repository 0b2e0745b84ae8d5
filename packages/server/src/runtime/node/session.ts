/**
 * One client session, independent of the socket under it: the auth handshake
 * (AUTH_CHALLENGE → HELLO + AUTH_RESPONSE → AUTH_OK), per-frame sender and signature
 * checks, rate limits, and the strike counter that disconnects a misbehaving device.
 * The transport feeds bytes in; frames the hub core should see go to the FrameHandler.
 *
 * Why the handshake signs frames rather than a bare nonce: the signed view of every frame
 * (DESIGN §3) already binds opcode, sender_id and payload, so HELLO proves the key and
 * AUTH_RESPONSE proves freshness (it echoes this session's random nonce).
 */
import {
  type Clock,
  decodePayload,
  deriveSenderId,
  encodePayload,
  errorFrame,
  Frame,
  isEphemeral,
  isProtocolError,
  Opcode,
  type ProtocolErrorCode,
  type Rng,
  responseFrame,
  StreamDecoder,
  type TimerHandle,
  type Timers,
  verifyFrame,
} from "@kalandra/proto";
import type { Logger } from "pino";
import { verifyFrameAsync } from "./asyncVerify.js";
import type { Metrics } from "./metrics.js";
import { TokenBucket } from "./tokenBucket.js";
import { type HubKey, hubKeySigner } from "./wire.js";

/** What the runtime needs from the hub core (HubCore implements it; tests use an echo). */
export interface FrameHandler {
  attachSession(
    sessionId: string,
    devicePublicKey: Uint8Array,
    userId: string,
  ): void | Promise<void>;
  detachSession?(sessionId: string): void;
  handleFrame(sessionId: string, senderId: bigint, bytes: Uint8Array): void | Promise<void>;
  /** Waits for work in flight (shutdown), at most `timeoutMs`. */
  drain?(timeoutMs: number): Promise<void>;
  /** Stops the core's timers and shards (shutdown, before storage closes). */
  close?(): Promise<void>;
}

/** Limits a session enforces itself; the rest (rooms, members) the hub core enforces. */
export interface SessionLimits {
  maxPayloadBytes: number;
  connectionRatePerSec: number;
  connectionBurst: number;
  maxStrikes: number;
  authTimeoutMs: number;
}

/** What a session may do to its socket. */
export interface SessionIo {
  /** Writes one whole frame on the session's stream. */
  send(frame: Uint8Array): void;
  /** Sends an ephemeral frame as a datagram when possible; false = caller uses the stream. */
  sendDatagram?(frame: Uint8Array): boolean;
  /** Closes the session after pending writes. */
  close(reason: string): void;
}

export interface SessionDeps {
  id: string;
  io: SessionIo;
  hub: HubKey;
  handler: FrameHandler;
  limits: SessionLimits;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  /** Per-device bucket shared by all sessions of that device (the transport owns the map). */
  deviceBucket(senderId: bigint): TokenBucket;
  metrics?: Metrics;
  log?: Logger;
  /** Called once the device is authenticated. */
  onAuthenticated?(session: Session): void;
  /**
   * Verify frame signatures on the thread pool (runtime/node/asyncVerify.ts), frames still handed
   * on in arrival order. Off by default: the deterministic simulation runs this class and
   * must not depend on thread-pool timing; the Node transport turns it on.
   */
  asyncVerify?: boolean;
}

/** A frame whose signature is being verified off-thread (`ok` unset until known). */
interface Verifying {
  frame: Frame;
  datagram: boolean;
  ok: boolean | undefined;
}

type State =
  | { kind: "new" }
  | {
      kind: "challenged";
      nonce: Uint8Array;
      publicKey: Uint8Array;
      senderId: bigint;
      userId: string;
    }
  | {
      kind: "ready";
      publicKey: Uint8Array;
      senderId: bigint;
      userId: string;
      reauthNonce?: Uint8Array;
    }
  | { kind: "closed" };

/** Handshake opcodes the runtime answers itself; they never reach the hub core. */
const HANDSHAKE = new Set<number>([Opcode.HELLO, Opcode.AUTH_RESPONSE]);

export class Session {
  private state: State = { kind: "new" };
  private readonly decoder: StreamDecoder;
  private readonly connBucket: TokenBucket;
  private strikes = 0;
  /** Frames of this session being verified, in arrival order. */
  private readonly verifying: Verifying[] = [];
  private authTimer: TimerHandle | undefined;

  constructor(private readonly d: SessionDeps) {
    this.decoder = new StreamDecoder({ maxPayload: d.limits.maxPayloadBytes });
    this.connBucket = new TokenBucket(
      d.limits.connectionRatePerSec,
      d.limits.connectionBurst,
      d.clock,
    );
    this.authTimer = d.timers.set(d.limits.authTimeoutMs, () => {
      this.authTimer = undefined;
      if (this.state.kind === "new" || this.state.kind === "challenged") {
        this.reject("UNAUTHENTICATED", `no authentication within ${d.limits.authTimeoutMs} ms`);
        this.close("authentication timeout");
      }
    });
  }

  get id(): string {
    return this.d.id;
  }

  get senderId(): bigint | undefined {
    return this.state.kind === "ready" ? this.state.senderId : undefined;
  }

  get userId(): string | undefined {
    return this.state.kind === "ready" ? this.state.userId : undefined;
  }

  get authenticated(): boolean {
    return this.state.kind === "ready";
  }

  get closed(): boolean {
    return this.state.kind === "closed";
  }

  /** Applies changed limits (SIGHUP); the payload limit applies to sessions opened afterwards. */
  reconfigure(limits: SessionLimits): void {
    this.d.limits = limits;
    this.connBucket.configure(limits.connectionRatePerSec, limits.connectionBurst);
  }

  /** Bytes from the session's stream. Bad bytes end this session only (DESIGN §3). */
  onBytes(chunk: Uint8Array): void {
    if (this.closed) return;
    this.d.metrics?.bytesReceived.inc(chunk.length);
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      this.onFrame(f, false);
    }
  }

  /** A datagram: one whole frame, ephemeral opcodes only; bad ones are dropped (nothing to answer). */
  onDatagram(bytes: Uint8Array): void {
    if (this.state.kind !== "ready") return;
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
    if (this.closed) return;
    try {
      this.decoder.end();
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    this.close("peer ended stream");
  }

  /** Delivers a frame the hub core produced for this session (ephemeral ones as datagrams when possible). */
  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    const opcode = frame.length >= 8 ? (frame[6] ?? 0) * 256 + (frame[7] ?? 0) : 0;
    if (this.d.io.sendDatagram && isEphemeral(opcode) && this.d.io.sendDatagram(frame)) {
      this.d.metrics?.messagesSent.inc();
      return;
    }
    this.emit(frame);
  }

  close(reason: string): void {
    if (this.state.kind === "closed") return;
    const wasReady = this.state.kind === "ready";
    this.state = { kind: "closed" };
    if (this.authTimer) this.d.timers.clear(this.authTimer);
    if (wasReady) this.d.handler.detachSession?.(this.d.id);
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
    this.emit(errorFrame(hubKeySigner(this.d.hub), { requestId, roomId }, { code, message }));
  }

  private strike(
    code: ProtocolErrorCode,
    message: string,
    requestId: number,
    roomId: bigint,
  ): void {
    this.reject(code, message, requestId, roomId);
    this.strikes++;
    if (this.strikes >= this.d.limits.maxStrikes) {
      this.d.log?.info(
        { session: this.d.id, code, strikes: this.strikes },
        "session closed after repeated violations",
      );
      this.close(`too many violations (${code})`);
    }
  }

  private respond(opcode: Opcode, requestId: number, payload: Uint8Array, roomId = 0n): void {
    this.emit(responseFrame(hubKeySigner(this.d.hub), { requestId, roomId }, opcode, payload));
  }

  private onFrame(frame: Frame, datagram: boolean): void {
    const h = frame.header;
    const st = this.state;
    if (st.kind === "closed") return;
    if (st.kind !== "ready" || HANDSHAKE.has(h.opcode)) {
      this.onHandshake(frame);
      return;
    }
    if (!this.connBucket.take()) {
      this.d.metrics?.framesRejected.inc({ code: "RATE_LIMITED" });
      this.emit(
        errorFrame(
          hubKeySigner(this.d.hub),
          { requestId: h.requestId, roomId: h.roomId },
          {
            code: "RATE_LIMITED",
            message: "session rate limit exceeded",
          },
        ),
      );
      return;
    }
    if (h.senderId !== st.senderId) {
      this.strike(
        "SENDER_MISMATCH",
        "sender_id is not this session's device",
        h.requestId,
        h.roomId,
      );
      return;
    }
    if (this.d.asyncVerify !== true) {
      this.afterVerify(frame, datagram, verifyFrame(frame, st.publicKey), st.senderId);
      return;
    }
    // Verified on the thread pool (runtime/node/asyncVerify.ts), ~120 µs of CPU per frame off this
    // thread; the session's frames still reach the hub core in the order they arrived.
    const item: Verifying = { frame, datagram, ok: undefined };
    this.verifying.push(item);
    verifyFrameAsync(frame, st.publicKey, (ok) => {
      item.ok = ok;
      this.releaseVerified();
    });
  }

  /** Hands verified frames on in arrival order; a frame still being verified holds back the rest. */
  private releaseVerified(): void {
    while (this.verifying.length > 0 && this.verifying[0]?.ok !== undefined) {
      const { frame, datagram, ok } = this.verifying.shift() as Verifying;
      const st = this.state;
      if (st.kind !== "ready") return; // closed (or re-authenticating) meanwhile
      this.afterVerify(frame, datagram, ok === true, st.senderId);
    }
  }

  private afterVerify(frame: Frame, datagram: boolean, verified: boolean, senderId: bigint): void {
    const h = frame.header;
    if (!verified) {
      this.strike("BAD_SIGNATURE", "frame signature does not verify", h.requestId, h.roomId);
      return;
    }
    if (!this.d.deviceBucket(senderId).take()) {
      this.d.metrics?.framesRejected.inc({ code: "RATE_LIMITED" });
      this.emit(
        errorFrame(
          hubKeySigner(this.d.hub),
          { requestId: h.requestId, roomId: h.roomId },
          {
            code: "RATE_LIMITED",
            message: "device rate limit exceeded",
          },
        ),
      );
      return;
    }
    if (h.opcode === Opcode.PING) {
      this.respond(Opcode.PONG, h.requestId, frame.payload, h.roomId);
      return;
    }
    if (datagram && !isEphemeral(h.opcode)) return;
    this.d.metrics?.framesReceived.inc({ opcode: h.opcode });
    const end = this.d.metrics?.frameHandling.startTimer();
    try {
      const r = this.d.handler.handleFrame(this.d.id, senderId, frame.toWire());
      if (r instanceof Promise) r.catch((e) => this.handlerFailed(e, h.requestId, h.roomId));
    } catch (e) {
      this.handlerFailed(e, h.requestId, h.roomId);
    } finally {
      end?.();
    }
  }

  private handlerFailed(e: unknown, requestId: number, roomId: bigint): void {
    this.d.log?.error(
      { session: this.d.id, err: e instanceof Error ? e.message : String(e) },
      "hub core failed on a frame",
    );
    if (!this.closed) this.reject("INTERNAL", "internal error", requestId, roomId);
  }

  /**
   * HELLO → AUTH_CHALLENGE (a response to the HELLO) → AUTH_RESPONSE → AUTH_OK. HELLO's
   * signature proves possession of the key it names; AUTH_RESPONSE echoes this session's
   * fresh random nonce, so a recorded handshake cannot be replayed. A HELLO on an
   * authenticated session re-runs the handshake for the same device (the client core
   * authenticates again after each reconnect); another device's key is refused.
   */
  private onHandshake(frame: Frame): void {
    const h = frame.header;
    const st = this.state;
    if (h.opcode === Opcode.HELLO) {
      let hello: { device_key: Uint8Array; user_id: string };
      try {
        hello = decodePayload(Opcode.HELLO, frame.payload);
      } catch (e) {
        this.authFail(isProtocolError(e) ? e.message : "bad HELLO", h.requestId, "BAD_PAYLOAD");
        return;
      }
      const senderId = deriveSenderId(hello.device_key);
      if (h.senderId !== senderId) {
        this.strike(
          "SENDER_MISMATCH",
          "HELLO sender_id does not derive from device_key",
          h.requestId,
          0n,
        );
        return;
      }
      if (!verifyFrame(frame, hello.device_key)) {
        this.authFail("HELLO signature does not verify", h.requestId, "BAD_SIGNATURE");
        return;
      }
      if (st.kind === "ready" && st.senderId !== senderId) {
        this.strike("SENDER_MISMATCH", "this session belongs to another device", h.requestId, 0n);
        return;
      }
      const nonce = this.d.rng.bytes(32);
      if (st.kind === "ready") st.reauthNonce = nonce;
      else
        this.state = {
          kind: "challenged",
          nonce,
          publicKey: hello.device_key.slice(),
          senderId,
          userId: hello.user_id,
        };
      this.respond(
        Opcode.AUTH_CHALLENGE,
        h.requestId,
        encodePayload(Opcode.AUTH_CHALLENGE, { nonce, hub_key: this.d.hub.publicKey }),
      );
      return;
    }
    if (
      h.opcode === Opcode.AUTH_RESPONSE &&
      (st.kind === "challenged" || (st.kind === "ready" && st.reauthNonce))
    ) {
      const expectedNonce = st.kind === "challenged" ? st.nonce : (st.reauthNonce as Uint8Array);
      if (h.senderId !== st.senderId) {
        this.authFail("AUTH_RESPONSE sender_id differs from HELLO", h.requestId, "SENDER_MISMATCH");
        return;
      }
      if (!verifyFrame(frame, st.publicKey)) {
        this.authFail("AUTH_RESPONSE signature does not verify", h.requestId, "BAD_SIGNATURE");
        return;
      }
      let nonce: Uint8Array;
      try {
        nonce = decodePayload(Opcode.AUTH_RESPONSE, frame.payload).nonce;
      } catch (e) {
        this.authFail(
          isProtocolError(e) ? e.message : "bad AUTH_RESPONSE",
          h.requestId,
          "BAD_PAYLOAD",
        );
        return;
      }
      if (Buffer.compare(nonce, expectedNonce) !== 0) {
        this.authFail("nonce does not match the challenge", h.requestId);
        return;
      }
      this.respond(
        Opcode.AUTH_OK,
        h.requestId,
        encodePayload(Opcode.AUTH_OK, { sender_id: st.senderId }),
      );
      if (st.kind === "ready") {
        st.reauthNonce = undefined;
        return;
      }
      this.state = {
        kind: "ready",
        publicKey: st.publicKey,
        senderId: st.senderId,
        userId: st.userId,
      };
      if (this.authTimer) this.d.timers.clear(this.authTimer);
      this.authTimer = undefined;
      this.d.metrics?.sessionsAuthenticated.inc();
      this.d.log?.info(
        { session: this.d.id, sender: st.senderId.toString(16), user: st.userId },
        "session authenticated",
      );
      try {
        const r = this.d.handler.attachSession(this.d.id, st.publicKey, st.userId);
        if (r instanceof Promise) r.catch((e) => this.handlerFailed(e, h.requestId, 0n));
      } catch (e) {
        this.handlerFailed(e, h.requestId, 0n);
      }
      this.d.onAuthenticated?.(this);
      return;
    }
    this.strike(
      "UNAUTHENTICATED",
      st.kind === "new" ? "expected HELLO" : "expected AUTH_RESPONSE",
      h.requestId,
      h.roomId,
    );
  }

  /** A failed handshake ends an unauthenticated session at once: there is nothing to retry on it. */
  private authFail(
    message: string,
    requestId: number,
    code: ProtocolErrorCode = "UNAUTHENTICATED",
  ): void {
    if (this.state.kind === "ready") {
      this.strike(code, message, requestId, 0n);
      return;
    }
    this.reject(code, message, requestId);
    this.close(`authentication failed: ${message}`);
  }
}
