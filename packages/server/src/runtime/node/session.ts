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
import type { KeyObject } from "node:crypto";
import {
  type Clock,
  deriveSenderId,
  EPHEMERAL_OPCODES,
  Flag,
  isOpcode,
  Opcode,
  type Rng,
} from "@kalandra/proto";
import type { Logger } from "pino";
import type { Metrics } from "./metrics.js";
import { TokenBucket } from "./tokenBucket.js";
import {
  buildFrame,
  decodeCborMap,
  ed25519PublicKey,
  encodeCbor,
  errorFrame,
  FrameSplitter,
  type HubKey,
  type RuntimeErrorName,
  readHeader,
  verifyFrameSignature,
  WireError,
} from "./wire.js";

/** What the runtime needs from the hub core (HubCore implements it; tests use an echo). */
export interface FrameHandler {
  attachSession(
    sessionId: string,
    devicePublicKey: Uint8Array,
    userId: string,
  ): void | Promise<void>;
  detachSession?(sessionId: string): void;
  handleFrame(sessionId: string, senderId: bigint, bytes: Uint8Array): void | Promise<void>;
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
  /** Per-device bucket shared by all sessions of that device (the transport owns the map). */
  deviceBucket(senderId: bigint): TokenBucket;
  metrics?: Metrics;
  log?: Logger;
  /** Called once the device is authenticated. */
  onAuthenticated?(session: Session): void;
}

type State =
  | { kind: "challenged"; nonce: Uint8Array }
  | {
      kind: "helloed";
      nonce: Uint8Array;
      key: KeyObject;
      raw: Uint8Array;
      senderId: bigint;
      userId: string;
    }
  | { kind: "ready"; key: KeyObject; senderId: bigint; userId: string }
  | { kind: "closed" };

export class Session {
  private state: State;
  private readonly splitter: FrameSplitter;
  private readonly connBucket: TokenBucket;
  private strikes = 0;

  constructor(private readonly d: SessionDeps) {
    this.splitter = new FrameSplitter(d.limits.maxPayloadBytes);
    this.connBucket = new TokenBucket(
      d.limits.connectionRatePerSec,
      d.limits.connectionBurst,
      d.clock,
    );
    const nonce = d.rng.bytes(32);
    this.state = { kind: "challenged", nonce };
    this.emit(
      buildFrame(
        { flags: Flag.EXTERNAL, opcode: Opcode.AUTH_CHALLENGE },
        encodeCbor({ nonce, hub_key: d.hub.publicKey }),
        d.hub.privateKey,
      ),
    );
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

  /** Applies changed limits (SIGHUP). */
  reconfigure(limits: SessionLimits): void {
    this.d.limits = limits;
    this.splitter.setMaxPayload(limits.maxPayloadBytes);
    this.connBucket.configure(limits.connectionRatePerSec, limits.connectionBurst);
  }

  /** Bytes from the session's stream. */
  onBytes(chunk: Uint8Array): void {
    if (this.state.kind === "closed") return;
    this.d.metrics?.bytesReceived.inc(chunk.length);
    let frames: Uint8Array[];
    try {
      frames = this.splitter.push(chunk);
    } catch (e) {
      this.refuseStream(e);
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      this.onFrame(f, false);
    }
  }

  /** A datagram: one whole frame, ephemeral opcodes only. */
  onDatagram(bytes: Uint8Array): void {
    if (this.state.kind !== "ready") return; // datagrams before auth are dropped silently (unreliable by nature)
    const f = new FrameSplitter(this.d.limits.maxPayloadBytes);
    try {
      const frames = f.push(bytes);
      if (frames.length !== 1 || f.pending !== 0) return;
      const frame = frames[0] as Uint8Array;
      if (!EPHEMERAL_OPCODES.has(readHeader(frame).opcode)) return;
      this.onFrame(frame, true);
    } catch {
      // A bad datagram is dropped: there is no request to answer and no stream to close.
    }
  }

  /** The peer finished its stream. */
  onEnd(): void {
    if (this.state.kind === "closed") return;
    if (this.splitter.pending > 0) {
      this.reject(
        "TRUNCATED",
        `stream ended inside a frame (${this.splitter.pending} bytes pending)`,
      );
    }
    this.close("peer ended stream");
  }

  /** Delivers a frame the hub core produced for this session. */
  deliver(frame: Uint8Array): void {
    if (this.state.kind === "closed") return;
    if (
      frame.length >= 128 &&
      this.d.io.sendDatagram &&
      EPHEMERAL_OPCODES.has(readHeader(frame).opcode)
    ) {
      if (this.d.io.sendDatagram(frame)) {
        this.d.metrics?.messagesSent.inc();
        return;
      }
    }
    this.emit(frame);
  }

  close(reason: string): void {
    if (this.state.kind === "closed") return;
    const wasReady = this.state.kind === "ready";
    this.state = { kind: "closed" };
    if (wasReady) this.d.handler.detachSession?.(this.d.id);
    this.d.io.close(reason);
  }

  private emit(frame: Uint8Array): void {
    this.d.metrics?.messagesSent.inc();
    this.d.metrics?.bytesSent.inc(frame.length);
    this.d.io.send(frame);
  }

  private refuseStream(e: unknown): void {
    const err = e instanceof WireError ? e : new WireError("INTERNAL", "internal error", true);
    this.reject(err.code, err.message);
    if (err.fatal) this.close(`wire error ${err.code}`);
  }

  private reject(code: RuntimeErrorName, message: string, requestId = 0, roomId = 0n): void {
    this.d.metrics?.framesRejected.inc({ code });
    this.d.log?.debug({ session: this.d.id, code }, "frame rejected");
    this.emit(errorFrame(this.d.hub, code, message, requestId, roomId));
  }

  private strike(code: RuntimeErrorName, message: string, requestId: number, roomId: bigint): void {
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

  private onFrame(frame: Uint8Array, datagram: boolean): void {
    const h = readHeader(frame);
    if (!isOpcode(h.opcode)) {
      this.reject(
        "UNKNOWN_OPCODE",
        `unknown opcode 0x${h.opcode.toString(16)}`,
        h.requestId,
        h.roomId,
      );
      return;
    }
    const st = this.state;
    switch (st.kind) {
      case "challenged":
        this.onHello(frame, h.opcode, h.senderId, h.requestId, st.nonce);
        return;
      case "helloed":
        this.onAuthResponse(frame, h.opcode, h.senderId, h.requestId, st);
        return;
      case "ready":
        break;
      case "closed":
        return;
    }
    if (!this.connBucket.take()) {
      this.reject("RATE_LIMITED", "connection rate limit exceeded", h.requestId, h.roomId);
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
    if (!verifyFrameSignature(frame, st.key)) {
      this.strike("BAD_SIGNATURE", "frame signature does not verify", h.requestId, h.roomId);
      return;
    }
    if (!this.d.deviceBucket(st.senderId).take()) {
      this.reject("RATE_LIMITED", "device rate limit exceeded", h.requestId, h.roomId);
      return;
    }
    if (h.opcode === Opcode.PING) {
      const payload = frame.subarray(128);
      this.emit(
        buildFrame(
          { flags: Flag.RESPONSE, opcode: Opcode.PONG, requestId: h.requestId, roomId: h.roomId },
          payload,
          this.d.hub.privateKey,
        ),
      );
      return;
    }
    if (datagram && !EPHEMERAL_OPCODES.has(h.opcode)) return;
    this.d.metrics?.framesReceived.inc({ opcode: h.opcode });
    const end = this.d.metrics?.frameHandling.startTimer();
    try {
      const r = this.d.handler.handleFrame(this.d.id, st.senderId, frame);
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
    if (this.state.kind !== "closed") this.reject("INTERNAL", "internal error", requestId, roomId);
  }

  private onHello(
    frame: Uint8Array,
    opcode: number,
    senderId: bigint,
    requestId: number,
    nonce: Uint8Array,
  ): void {
    if (opcode !== Opcode.HELLO) {
      this.strike("UNAUTHENTICATED", "expected HELLO", requestId, 0n);
      return;
    }
    let p: Record<string, unknown>;
    try {
      p = decodeCborMap(frame.subarray(128));
    } catch (e) {
      this.authFail((e as Error).message, requestId);
      return;
    }
    const raw = p.device_key;
    const userId = p.user_id;
    if (
      !(raw instanceof Uint8Array) ||
      raw.length !== 32 ||
      typeof userId !== "string" ||
      userId.length === 0
    ) {
      this.authFail("HELLO needs device_key bytes(32) and user_id text", requestId);
      return;
    }
    let key: KeyObject;
    try {
      key = ed25519PublicKey(raw);
    } catch {
      this.authFail("device_key is not an Ed25519 key", requestId);
      return;
    }
    const expected = deriveSenderId(raw);
    if (senderId !== expected) {
      this.strike(
        "SENDER_MISMATCH",
        "HELLO sender_id does not derive from device_key",
        requestId,
        0n,
      );
      return;
    }
    if (!verifyFrameSignature(frame, key)) {
      this.authFail("HELLO signature does not verify", requestId, "BAD_SIGNATURE");
      return;
    }
    this.state = { kind: "helloed", nonce, key, raw: raw.slice(), senderId, userId };
  }

  private onAuthResponse(
    frame: Uint8Array,
    opcode: number,
    senderId: bigint,
    requestId: number,
    st: Extract<State, { kind: "helloed" }>,
  ): void {
    if (opcode !== Opcode.AUTH_RESPONSE) {
      this.strike("UNAUTHENTICATED", "expected AUTH_RESPONSE", requestId, 0n);
      return;
    }
    if (senderId !== st.senderId) {
      this.authFail("AUTH_RESPONSE sender_id differs from HELLO", requestId, "SENDER_MISMATCH");
      return;
    }
    if (!verifyFrameSignature(frame, st.key)) {
      this.authFail("AUTH_RESPONSE signature does not verify", requestId, "BAD_SIGNATURE");
      return;
    }
    let p: Record<string, unknown>;
    try {
      p = decodeCborMap(frame.subarray(128));
    } catch (e) {
      this.authFail((e as Error).message, requestId);
      return;
    }
    const echoed = p.nonce;
    if (!(echoed instanceof Uint8Array) || Buffer.compare(echoed, st.nonce) !== 0) {
      this.authFail("nonce does not match the challenge", requestId);
      return;
    }
    this.state = { kind: "ready", key: st.key, senderId: st.senderId, userId: st.userId };
    this.d.metrics?.sessionsAuthenticated.inc();
    this.emit(
      buildFrame(
        { flags: Flag.RESPONSE, opcode: Opcode.AUTH_OK, requestId },
        encodeCbor({ sender_id: st.senderId }),
        this.d.hub.privateKey,
      ),
    );
    this.d.log?.info(
      { session: this.d.id, sender: st.senderId.toString(16), user: st.userId },
      "session authenticated",
    );
    try {
      const r = this.d.handler.attachSession(this.d.id, st.raw, st.userId);
      if (r instanceof Promise) r.catch((e) => this.handlerFailed(e, requestId, 0n));
    } catch (e) {
      this.handlerFailed(e, requestId, 0n);
    }
    this.d.onAuthenticated?.(this);
  }

  /** A failed handshake ends the session at once: there is nothing to retry on it. */
  private authFail(
    message: string,
    requestId: number,
    code: RuntimeErrorName = "UNAUTHENTICATED",
  ): void {
    this.reject(code, message, requestId);
    this.close(`authentication failed: ${message}`);
  }
}
