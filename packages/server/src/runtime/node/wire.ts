/**
 * The runtime's side of the wire format: @kalandra/proto does the codec work (header,
 * stream decoding with a hard size limit, payload schemas, Ed25519 signatures); this
 * module adds the hub's own signer and the ERROR/response frames the runtime emits.
 */
import { createPublicKey, type KeyObject, sign } from "node:crypto";
import {
  type DeviceSigner,
  ErrorCode,
  encodeErrorPayload,
  encodeFrame,
  Flag,
  FrameHeader,
  type HeaderFields,
  Opcode,
  type ProtocolErrorCode,
} from "@kalandra/proto";

export { HEADER_SIZE, MAGIC } from "@kalandra/proto";

/** The codes the runtime raises are proto's `ErrorCode` (the wire contract). */
export type RuntimeErrorName = ProtocolErrorCode;
export const RuntimeErrorCode = ErrorCode;

export interface HubKey {
  privateKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

/** Raw 32 bytes of an Ed25519 key object (public, or the public half of a private key). */
export function ed25519RawPublic(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const der = pub.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A proto DeviceSigner over a node:crypto key object (the hub's key stays a KeyObject). */
export function keySigner(privateKey: KeyObject): DeviceSigner {
  return {
    publicKey: ed25519RawPublic(privateKey),
    sign: (data) => new Uint8Array(sign(null, data, privateKey)),
  };
}

const signers = new WeakMap<KeyObject, DeviceSigner>();
function hubSigner(hub: HubKey): DeviceSigner {
  let s = signers.get(hub.privateKey);
  if (!s) {
    s = keySigner(hub.privateKey);
    signers.set(hub.privateKey, s);
  }
  return s;
}

/** Plain header fields of a whole frame (convenience for tests and logs). */
export function readHeader(
  frame: Uint8Array,
): Required<Omit<HeaderFields, "payloadSize">> & { payloadSize: number } {
  const h = FrameHeader.view(frame);
  return {
    flags: h.flags,
    opcode: h.opcode,
    requestId: h.requestId,
    roomId: h.roomId,
    senderId: h.senderId,
    logIndex: h.logIndex,
    hlcTimestamp: h.hlcTimestamp,
    epoch: h.epoch,
    payloadSize: h.payloadSize,
  };
}

/** A frame emitted by the hub: sender 0, signed by the hub key (contracts.md "Frames"). */
export function hubFrame(
  hub: HubKey,
  fields: { opcode: number; flags?: number; requestId?: number; roomId?: bigint },
  payload: Uint8Array,
): Uint8Array {
  return encodeFrame(
    {
      opcode: fields.opcode,
      flags: fields.flags ?? 0,
      requestId: fields.requestId ?? 0,
      roomId: fields.roomId ?? 0n,
      senderId: 0n,
      epoch: 0n,
      payload,
    },
    hubSigner(hub),
  );
}

/** An ERROR response frame (RESPONSE|ERROR flags, sender 0, signed by the hub). */
export function errorFrame(
  hub: HubKey,
  code: RuntimeErrorName,
  message: string,
  requestId = 0,
  roomId = 0n,
): Uint8Array {
  return hubFrame(
    hub,
    { opcode: Opcode.ERROR, flags: Flag.RESPONSE | Flag.ERROR, requestId, roomId },
    encodeErrorPayload(code, message),
  );
}
