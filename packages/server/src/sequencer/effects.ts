/**
 * The builders of the hub's own frames, which the cores push to their sink
 * (vocabulary/target.ts): responses carry the RESPONSE flag, echo `request_id` and
 * `room_id`, have `sender_id` 0 and are signed by the hub (docs/contracts.md "Frames").
 */
import {
  encodeErrorPayload,
  encodeFrame,
  encodePayload,
  Flag,
  Opcode,
  type Opcode as OpcodeT,
} from "@kalandra/proto";
import type { Refusal } from "../vocabulary/outcome.js";
import { buildFrame, type FrameHeader, type FrameSigner } from "./wire.js";

type RequestHeader = Pick<FrameHeader, "requestId" | "roomId" | "epoch">;

/** The ACK payload `{}`, encoded once: every sequenced frame's response carries it. */
const ACK_PAYLOAD = encodePayload(Opcode.ACK, {});

/** A success response with a payload (ACK, GROUP_INFO, SYNC_PAGE, KP_CLAIMED, ...). */
export function responseFrame(
  signer: FrameSigner,
  req: RequestHeader,
  opcode: OpcodeT,
  payload: unknown,
  stamp?: { logIndex: bigint; hlc: bigint; epoch?: bigint },
): Uint8Array {
  return buildFrame(
    {
      flags: Flag.RESPONSE,
      opcode,
      requestId: req.requestId,
      roomId: req.roomId,
      senderId: 0n,
      logIndex: stamp?.logIndex ?? 0n,
      hlcTimestamp: stamp?.hlc ?? 0n,
      epoch: stamp?.epoch ?? req.epoch,
    },
    opcode === Opcode.ACK ? ACK_PAYLOAD : encodePayload(opcode, payload as never),
    signer,
  );
}

/**
 * The ACK of a sequenced frame, not yet signed (signature bytes zero): the sequencer signs
 * it with `signFrameInPlace` (frameSigner.ts) before anything reads or stores it.
 */
export function ackFrame(req: RequestHeader, logIndex: bigint, hlc: bigint): Uint8Array {
  return encodeFrame({
    flags: Flag.RESPONSE,
    opcode: Opcode.ACK,
    requestId: req.requestId,
    roomId: req.roomId,
    senderId: 0n,
    logIndex,
    hlcTimestamp: hlc,
    epoch: req.epoch,
    payload: ACK_PAYLOAD,
  });
}

/** An ERROR response `{code, name, message, expected_epoch?}`. */
export function errorFrame(signer: FrameSigner, req: RequestHeader, r: Refusal): Uint8Array {
  const payload = encodeErrorPayload(
    r.code,
    r.message,
    r.expectedEpoch === undefined ? undefined : { expected_epoch: r.expectedEpoch },
  );
  return buildFrame(
    {
      flags: Flag.RESPONSE | Flag.ERROR,
      opcode: Opcode.ERROR,
      requestId: req.requestId,
      roomId: req.roomId,
      senderId: 0n,
      epoch: req.epoch,
    },
    payload,
    signer,
  );
}

/** A frame the hub originates (COMMIT_REQUEST, WELCOME, KP_STATUS, its own proposals). */
export function hubFrame(
  signer: FrameSigner,
  opcode: OpcodeT,
  roomId: bigint,
  epoch: bigint,
  payload: unknown,
  flags = Flag.EXTERNAL,
  requestId = 0,
): Uint8Array {
  return buildFrame(
    { flags, opcode, requestId, roomId, senderId: 0n, epoch },
    encodePayload(opcode, payload as never),
    signer,
  );
}
