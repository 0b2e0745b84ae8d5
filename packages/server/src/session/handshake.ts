/**
 * The auth handshake of one session as a pure state machine (no I/O, no timers): HELLO →
 * AUTH_CHALLENGE (a response to the HELLO) → AUTH_RESPONSE → (the hub's authenticator
 * decides the user, identity/authentication.ts) → AUTH_OK `{sender_id, user_id}`. HELLO's
 * signature proves possession of the key it names; AUTH_RESPONSE echoes this session's
 * fresh random nonce, so a recorded handshake cannot be replayed. HELLO's `user_id` and
 * `auth` are only a claim until the authenticator's verdict (`settle`). A HELLO on an
 * authenticated session re-runs the handshake for the same device (the client core
 * authenticates again after each reconnect) and must yield the same user; another
 * device's key is refused.
 *
 * Why the handshake signs frames rather than a bare nonce: the signed view of every frame
 * (DESIGN §3) already binds opcode, sender_id and payload, so HELLO proves the key and
 * AUTH_RESPONSE proves freshness.
 *
 * @example
 * const hs = new Handshake(rng);
 * const step = hs.step(helloFrame); // { kind: "challenge", requestId, nonce }
 * const next = hs.step(responseFrame); // { kind: "authenticate", claim, first: true }
 * hs.settle(await authenticator.authenticate(...), next.requestId); // { kind: "authenticated" }
 */
import {
  bytesEqual,
  decodePayload,
  deriveSenderId,
  type Frame,
  isProtocolError,
  Opcode,
  type PayloadOf,
  type ProtocolErrorCode,
  type Rng,
  verifyFrame,
} from "@kalandra/proto";

/** Who a session authenticated as: the device and the user the hub authenticated it as. */
export interface SessionIdentity {
  publicKey: Uint8Array;
  senderId: bigint;
  userId: string;
}

/** What a HELLO claims and presents; the hub's authenticator decides what it is worth. */
export interface HelloClaim {
  publicKey: Uint8Array;
  senderId: bigint;
  claimedUserId: string;
  auth?: { method: string; credential: Uint8Array };
}

export type HandshakeState =
  | { kind: "new" }
  | { kind: "challenged"; nonce: Uint8Array; claim: HelloClaim }
  /** The device proved its key; the hub's authenticator is deciding its user. */
  | { kind: "authenticating"; claim: HelloClaim }
  | { kind: "ready"; identity: SessionIdentity; reauth?: { nonce: Uint8Array; claim: HelloClaim } };

/** What the session does with a handshake frame. */
export type HandshakeStep =
  /** Answer AUTH_CHALLENGE `{nonce}` to the HELLO. */
  | { kind: "challenge"; requestId: number; nonce: Uint8Array }
  /** A handshake request sent again while its answer is on its way: nothing to send. */
  | { kind: "repeated" }
  /**
   * The device proved its key: ask the hub's authenticator (asynchronously, within the
   * auth timeout) and hand its verdict to `settle`. `first`: the session is not
   * authenticated yet (otherwise a re-authentication, which must yield the same user).
   */
  | { kind: "authenticate"; requestId: number; claim: HelloClaim; first: boolean }
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

/** The authenticator's answer (identity/authenticator.ts `AuthVerdict`). */
export type Verdict =
  | { ok: true; userId: string }
  | { ok: false; code: ProtocolErrorCode; message: string };

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
  /**
   * The last HELLO challenged and the last AUTH_RESPONSE accepted. A client resends a
   * handshake request (same request_id, same bytes) when its answer is late, as on a loaded
   * hub: a fresh nonce for the second HELLO made its answer to the first challenge fail
   * ("nonce does not match"), and a strike for the second AUTH_RESPONSE failed the
   * handshake before AUTH_OK came. A pending HELLO's repeat gets the same challenge, a
   * pending AUTH_RESPONSE's no answer of its own.
   */
  private lastHello: { requestId: number; payload: Uint8Array; nonce: Uint8Array } | undefined;
  private lastResponse: number | undefined;

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
    const st = this.s;
    if (this.isRepeat(frame)) return { kind: "repeated" };
    if (st.kind === "authenticating") {
      return this.strike("UNAUTHENTICATED", "authentication in progress", h.requestId, h.roomId);
    }
    if (h.opcode === Opcode.HELLO) return this.onHello(frame);
    if (h.opcode === Opcode.AUTH_RESPONSE) {
      if (st.kind === "challenged") return this.onResponse(frame, st.nonce, st.claim);
      if (st.kind === "ready" && st.reauth !== undefined) {
        return this.onResponse(frame, st.reauth.nonce, st.reauth.claim);
      }
    }
    const message = st.kind === "new" ? "expected HELLO" : "expected AUTH_RESPONSE";
    return this.strike("UNAUTHENTICATED", message, h.requestId, h.roomId);
  }

  /**
   * The authenticator's verdict on an `authenticate` step. The first one fixes the
   * session's user for its life; a re-authentication must yield that same user.
   */
  settle(verdict: Verdict, requestId: number): HandshakeStep {
    const st = this.s;
    if (st.kind === "authenticating") {
      if (!verdict.ok) return this.fail(verdict.code, verdict.message, requestId);
      const { publicKey, senderId } = st.claim;
      const identity = { publicKey, senderId, userId: verdict.userId };
      this.s = { kind: "ready", identity };
      return { kind: "authenticated", requestId, identity, first: true };
    }
    if (st.kind !== "ready")
      return this.fail("UNAUTHENTICATED", "no authentication under way", requestId);
    if (!verdict.ok) return this.fail(verdict.code, verdict.message, requestId);
    if (verdict.userId !== st.identity.userId) {
      return this.fail("FORBIDDEN", "re-authentication named another user", requestId);
    }
    return { kind: "authenticated", requestId, identity: st.identity, first: false };
  }

  private onHello(frame: Frame): HandshakeStep {
    const h = frame.header;
    let hello: PayloadOf<typeof Opcode.HELLO>;
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
    const last = this.lastHello;
    const pending = st.kind === "challenged" || (st.kind === "ready" && st.reauth !== undefined);
    if (pending && last?.requestId === h.requestId && bytesEqual(last.payload, frame.payload)) {
      return { kind: "challenge", requestId: h.requestId, nonce: last.nonce };
    }
    const nonce = this.rng.bytes(32);
    this.lastHello = { requestId: h.requestId, payload: frame.payload.slice(), nonce };
    // Copies: the payload is a view into the frame's buffer.
    const claim: HelloClaim = {
      publicKey: hello.device_key.slice(),
      senderId,
      claimedUserId: hello.user_id,
    };
    if (hello.auth !== undefined) {
      claim.auth = { method: hello.auth.method, credential: hello.auth.credential.slice() };
    }
    if (st.kind === "ready") st.reauth = { nonce, claim };
    else this.s = { kind: "challenged", nonce, claim };
    return { kind: "challenge", requestId: h.requestId, nonce };
  }

  private onResponse(frame: Frame, expected: Uint8Array, claim: HelloClaim): HandshakeStep {
    const h = frame.header;
    if (h.senderId !== claim.senderId) {
      return this.fail(
        "SENDER_MISMATCH",
        "AUTH_RESPONSE sender_id differs from HELLO",
        h.requestId,
      );
    }
    if (!verifyFrame(frame, claim.publicKey)) {
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
    this.lastResponse = h.requestId;
    const st = this.s;
    if (st.kind === "ready") {
      st.reauth = undefined;
      return { kind: "authenticate", requestId: h.requestId, claim, first: false };
    }
    this.s = { kind: "authenticating", claim };
    return { kind: "authenticate", requestId: h.requestId, claim, first: true };
  }

  /**
   * The AUTH_RESPONSE the authenticator is deciding on, sent again: its AUTH_OK (or refusal)
   * answers it. Once settled, a repeat is refused as before (the answer was lost, and the
   * client starts over on a new connection).
   */
  private isRepeat(frame: Frame): boolean {
    const h = frame.header;
    return (
      this.s.kind === "authenticating" &&
      h.opcode === Opcode.AUTH_RESPONSE &&
      h.requestId === this.lastResponse
    );
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
