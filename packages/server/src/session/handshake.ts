/**
 * The auth handshake of one session as a pure state machine (no I/O, no timers): HELLO →
 * AUTH_CHALLENGE (a response to the HELLO) → AUTH_RESPONSE → AUTH_OK. HELLO's signature
 * proves possession of the key it names; AUTH_RESPONSE echoes this session's fresh random
 * nonce, so a recorded handshake cannot be replayed. A HELLO on an authenticated session
 * re-runs the handshake for the same device (the client core authenticates again after
 * each reconnect); another device's key is refused.
 *
 * Why the handshake signs frames rather than a bare nonce: the signed view of every frame
 * (DESIGN §3) already binds opcode, sender_id and payload, so HELLO proves the key and
 * AUTH_RESPONSE proves freshness.
 *
 * @example
 * const hs = new Handshake(rng);
 * const step = hs.step(helloFrame); // { kind: "challenge", requestId, nonce }
 */
import {
  bytesEqual,
  decodePayload,
  deriveSenderId,
  type Frame,
  isProtocolError,
  Opcode,
  type ProtocolErrorCode,
  type Rng,
  verifyFrame,
} from "@kalandra/proto";

/** Who a session authenticated as. */
export interface SessionIdentity {
  publicKey: Uint8Array;
  senderId: bigint;
  userId: string;
}

export type HandshakeState =
  | { kind: "new" }
  | { kind: "challenged"; nonce: Uint8Array; identity: SessionIdentity }
  | { kind: "ready"; identity: SessionIdentity; reauthNonce?: Uint8Array };

/** What the session does with a handshake frame. */
export type HandshakeStep =
  /** Answer AUTH_CHALLENGE `{nonce}` to the HELLO. */
  | { kind: "challenge"; requestId: number; nonce: Uint8Array }
  /** Answer AUTH_OK; `first` when the session has just become authenticated. */
  | { kind: "authenticated"; requestId: number; identity: SessionIdentity; first: boolean }
  /**
   * Refuse with an ERROR: `fatal` ends a session that is not authenticated (there is
   * nothing to retry on it), otherwise it is a strike.
   */
  | {
      kind: "refused";
      code: ProtocolErrorCode;
      message: string;
      requestId: number;
      roomId: bigint;
      fatal: boolean;
    };

/**
 * The largest payload a frame may declare before the session is authenticated (AUTH_OK
 * sent). The handshake frames are small: AUTH_RESPONSE is ~40 bytes; HELLO is a 32-byte key
 * plus user_id and client name, ~100 bytes for real ones. 4 KiB leaves room for long ids and
 * names while an unauthenticated peer can no longer make the hub buffer up to
 * max_payload_bytes (issue 12).
 */
export const PRE_AUTH_MAX_PAYLOAD = 4096;

/** The opcodes the handshake answers on an authenticated session; they never reach the hub. */
export const HANDSHAKE_OPCODES: ReadonlySet<number> = new Set([Opcode.HELLO, Opcode.AUTH_RESPONSE]);

export class Handshake {
  private s: HandshakeState = { kind: "new" };

  constructor(private readonly rng: Rng) {}

  get state(): HandshakeState {
    return this.s;
  }

  /** The authenticated identity, once AUTH_OK was answered. */
  get identity(): SessionIdentity | undefined {
    return this.s.kind === "ready" ? this.s.identity : undefined;
  }

  /** A HELLO, an AUTH_RESPONSE, or any frame before the session is authenticated. */
  step(frame: Frame): HandshakeStep {
    const h = frame.header;
    if (h.opcode === Opcode.HELLO) return this.onHello(frame);
    const st = this.s;
    if (h.opcode === Opcode.AUTH_RESPONSE) {
      if (st.kind === "challenged") return this.onResponse(frame, st.nonce, st.identity);
      if (st.kind === "ready" && st.reauthNonce !== undefined) {
        return this.onResponse(frame, st.reauthNonce, st.identity);
      }
    }
    const message = st.kind === "new" ? "expected HELLO" : "expected AUTH_RESPONSE";
    return this.strike("UNAUTHENTICATED", message, h.requestId, h.roomId);
  }

  private onHello(frame: Frame): HandshakeStep {
    const h = frame.header;
    let hello: { device_key: Uint8Array; user_id: string };
    try {
      hello = decodePayload(Opcode.HELLO, frame.payload);
    } catch (e) {
      return this.fail("BAD_PAYLOAD", isProtocolError(e) ? e.message : "bad HELLO", h.requestId);
    }
    const senderId = deriveSenderId(hello.device_key);
    if (h.senderId !== senderId) {
      return this.strike(
        "SENDER_MISMATCH",
        "HELLO sender_id does not derive from device_key",
        h.requestId,
      );
    }
    if (!verifyFrame(frame, hello.device_key)) {
      return this.fail("BAD_SIGNATURE", "HELLO signature does not verify", h.requestId);
    }
    const st = this.s;
    if (st.kind === "ready" && st.identity.senderId !== senderId) {
      return this.strike("SENDER_MISMATCH", "this session belongs to another device", h.requestId);
    }
    const nonce = this.rng.bytes(32);
    if (st.kind === "ready") st.reauthNonce = nonce;
    else {
      const identity = { publicKey: hello.device_key.slice(), senderId, userId: hello.user_id };
      this.s = { kind: "challenged", nonce, identity };
    }
    return { kind: "challenge", requestId: h.requestId, nonce };
  }

  private onResponse(frame: Frame, expected: Uint8Array, identity: SessionIdentity): HandshakeStep {
    const h = frame.header;
    if (h.senderId !== identity.senderId) {
      return this.fail(
        "SENDER_MISMATCH",
        "AUTH_RESPONSE sender_id differs from HELLO",
        h.requestId,
      );
    }
    if (!verifyFrame(frame, identity.publicKey)) {
      return this.fail("BAD_SIGNATURE", "AUTH_RESPONSE signature does not verify", h.requestId);
    }
    let nonce: Uint8Array;
    try {
      nonce = decodePayload(Opcode.AUTH_RESPONSE, frame.payload).nonce;
    } catch (e) {
      const message = isProtocolError(e) ? e.message : "bad AUTH_RESPONSE";
      return this.fail("BAD_PAYLOAD", message, h.requestId);
    }
    if (!bytesEqual(nonce, expected)) {
      return this.fail("UNAUTHENTICATED", "nonce does not match the challenge", h.requestId);
    }
    const st = this.s;
    if (st.kind === "ready") {
      st.reauthNonce = undefined;
      return { kind: "authenticated", requestId: h.requestId, identity, first: false };
    }
    this.s = { kind: "ready", identity };
    return { kind: "authenticated", requestId: h.requestId, identity, first: true };
  }

  private strike(
    code: ProtocolErrorCode,
    message: string,
    requestId: number,
    roomId = 0n,
  ): HandshakeStep {
    return { kind: "refused", code, message, requestId, roomId, fatal: false };
  }

  /** A failed handshake ends an unauthenticated session; on an authenticated one it is a strike. */
  private fail(code: ProtocolErrorCode, message: string, requestId: number): HandshakeStep {
    const fatal = this.s.kind !== "ready";
    return { kind: "refused", code, message, requestId, roomId: 0n, fatal };
  }
}
