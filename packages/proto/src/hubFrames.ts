/**
 * The frames the hub emits, built in one place (docs/contracts.md "Frames"): `sender_id` 0,
 * signed by the hub key over the whole header. Responses carry the RESPONSE flag and echo
 * the request's `request_id`, `room_id` and epoch; refusals are ERROR frames with
 * RESPONSE|ERROR; frames the hub originates (COMMIT_REQUEST, WELCOME, KP_STATUS, its own
 * proposals) carry EXTERNAL unless told otherwise.
 *
 * ERROR frames are the exception to signing: their signature bytes are zero. A refusal
 * grants nothing (it only says "not done"), TLS already protects it in transit, and an
 * unsigned refusal means a peer replaying one bad frame N times cannot make the hub spend
 * N Ed25519 signatures (issue 12). Clients accept ERRORs unsigned and require the hub's
 * signature on every other frame (docs/protocol.md "Signatures").
 *
 * @example
 * sink(reply, errorFrame(frame.header, { code: "NOT_MEMBER", message: "…" }));
 */
import type { DeviceSigner } from "./ed25519.js";
import type { ProtocolErrorCode } from "./errors.js";
import { encodeFrame } from "./frame.js";
import { Flag, Opcode } from "./opcodes.js";
import { encodeErrorPayload, encodePayload } from "./payloads/codec.js";

/** What a response echoes of its request; `epoch` is 0 when omitted (session requests). */
export interface RequestRef {
  readonly requestId: number;
  readonly roomId: bigint;
  readonly epoch?: bigint;
}

/** Why a request was refused: an ERROR frame's `{code, name, message, expected_epoch?}`. */
export interface RefusalFields {
  readonly code: ProtocolErrorCode;
  readonly message: string;
  /** For STALE_EPOCH / WRONG_EPOCH: the room's epoch. */
  readonly expectedEpoch?: bigint;
  /** For TRANSFERRING / PEER_UNREACHABLE: when to retry (DESIGN §11). */
  readonly retryAfterMs?: bigint;
  /** For STALE_TERM / NOT_AUTHORITY: the room's term as the refusing hub knows it. */
  readonly term?: bigint;
}

/** The ACK payload `{}`, encoded once: every sequenced frame's response carries it. */
const ACK_PAYLOAD = encodePayload(Opcode.ACK, {});

function payloadBytes(opcode: Opcode, payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  return opcode === Opcode.ACK ? ACK_PAYLOAD : encodePayload(opcode, payload as never);
}

/**
 * A success response (ACK, GROUP_INFO, SYNC_PAGE, KP_CLAIMED, AUTH_OK, PONG, ...). The
 * payload is the opcode's payload object, or its encoded bytes. `stamp` is the sequencer's
 * position of the request's frame (ACKs of sequenced frames).
 */
export function responseFrame(
  signer: DeviceSigner,
  req: RequestRef,
  opcode: Opcode,
  payload: unknown,
  stamp?: { logIndex: bigint; hlcTimestamp: bigint; epoch?: bigint },
): Uint8Array {
  return encodeFrame(
    {
      flags: Flag.RESPONSE,
      opcode,
      requestId: req.requestId,
      roomId: req.roomId,
      senderId: 0n,
      logIndex: stamp?.logIndex ?? 0n,
      hlcTimestamp: stamp?.hlcTimestamp ?? 0n,
      epoch: stamp?.epoch ?? req.epoch ?? 0n,
      payload: payloadBytes(opcode, payload),
    },
    signer,
  );
}

/**
 * The ACK of a sequenced frame, not yet signed (signature bytes zero): the sequencer signs
 * it (possibly off-thread) before anything reads or stores it.
 */
export function ackFrame(req: RequestRef, logIndex: bigint, hlcTimestamp: bigint): Uint8Array {
  return encodeFrame({
    flags: Flag.RESPONSE,
    opcode: Opcode.ACK,
    requestId: req.requestId,
    roomId: req.roomId,
    senderId: 0n,
    logIndex,
    hlcTimestamp,
    epoch: req.epoch ?? 0n,
    payload: ACK_PAYLOAD,
  });
}

/**
 * An ERROR response `{code, name, message, expected_epoch?}` (RESPONSE|ERROR), unsigned:
 * signature bytes zero (see the module comment for why).
 */
export function errorFrame(req: RequestRef, r: RefusalFields): Uint8Array {
  const extra: { expected_epoch?: bigint; retry_after_ms?: bigint; term?: bigint } = {};
  if (r.expectedEpoch !== undefined) extra.expected_epoch = r.expectedEpoch;
  if (r.retryAfterMs !== undefined) extra.retry_after_ms = r.retryAfterMs;
  if (r.term !== undefined) extra.term = r.term;
  const payload = encodeErrorPayload(r.code, r.message, extra);
  return encodeFrame({
    flags: Flag.RESPONSE | Flag.ERROR,
    opcode: Opcode.ERROR,
    requestId: req.requestId,
    roomId: req.roomId,
    senderId: 0n,
    epoch: req.epoch ?? 0n,
    payload,
  });
}

/**
 * True for a hub refusal (ERROR opcode with the RESPONSE|ERROR flags, from sender 0): the
 * one kind of hub frame that is not signed, so a client accepts it without a signature check.
 */
export function isHubError(header: {
  readonly flags: number;
  readonly opcode: number;
  readonly senderId: bigint;
}): boolean {
  return (
    header.opcode === Opcode.ERROR &&
    header.flags === (Flag.RESPONSE | Flag.ERROR) &&
    header.senderId === 0n
  );
}

/** A frame the hub originates (COMMIT_REQUEST, WELCOME, KP_STATUS, its own proposals). */
export function hubFrame(
  signer: DeviceSigner,
  opcode: Opcode,
  roomId: bigint,
  epoch: bigint,
  payload: unknown,
  flags: number = Flag.EXTERNAL,
  requestId = 0,
): Uint8Array {
  return encodeFrame(
    {
      flags,
      opcode,
      requestId,
      roomId,
      senderId: 0n,
      epoch,
      payload: payloadBytes(opcode, payload),
    },
    signer,
  );
}
