/**
 * The server cores' seam to `@kalandra/proto` (DESIGN §3, docs/contracts.md "Frames"):
 * the few frame operations the sequencer and hub need, named for what they do there.
 * Frames are parsed with `Frame.fromWire` (views, no copies), payloads with the opcode
 * schemas, signatures with node:crypto through proto's `verifyFrame`.
 *
 * Ownership: a ParsedFrame's header and payload are views into the caller's buffer;
 * `stampFrame` (proto's) returns a fresh buffer the caller owns.
 */
import {
  DEFAULT_MAX_PAYLOAD,
  type DeviceSigner,
  encodeFrame,
  Frame,
  FrameHeader,
  type HeaderFields,
  stateCborDecode,
  verifyFrame,
} from "@kalandra/proto";

export { ErrorCode, ProtocolError, stampFrame } from "@kalandra/proto";
export type FrameSigner = DeviceSigner;
export type { FrameHeader };

/**
 * The header fields the cores read of a request. A `FrameHeader` has them; a plain copy
 * of them (`requestFields`) crosses the worker boundary with the bytes, so a shard never
 * parses a frame the session already parsed.
 */
export type RequestFields = Pick<
  FrameHeader,
  "opcode" | "flags" | "requestId" | "roomId" | "senderId" | "epoch"
>;

/** A plain copy of a header's request fields (six reads, no bytes). */
export function requestFields(h: RequestFields): RequestFields {
  return {
    opcode: h.opcode,
    flags: h.flags,
    requestId: h.requestId,
    roomId: h.roomId,
    senderId: h.senderId,
    epoch: h.epoch,
  };
}

export interface ParsedFrame {
  header: RequestFields;
  /** View into the received buffer. */
  payload: Uint8Array;
  /** The whole frame (header + payload) as received. */
  bytes: Uint8Array;
}

/** Parses and checks a frame's header; throws ProtocolError on anything malformed. */
export function parseFrame(bytes: Uint8Array, maxPayload = DEFAULT_MAX_PAYLOAD): ParsedFrame {
  const frame = Frame.fromWire(bytes, { maxPayload });
  return { header: frame.header, payload: frame.payload, bytes };
}

/** The `hlc_timestamp` of a stored 128-byte header. */
export function readHlc(header: Uint8Array): bigint {
  return FrameHeader.view(header).hlcTimestamp;
}

/** Verifies the Ed25519 frame signature against a 32-byte device (leaf) key. */
export function verifyFrameSignature(frame: Frame, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  return verifyFrame(frame, publicKey);
}

export type FrameFields = Partial<HeaderFields> & { opcode: number };

/** Builds and signs a frame around an already encoded payload. */
export function buildFrame(f: FrameFields, payload: Uint8Array, signer: FrameSigner): Uint8Array {
  return encodeFrame(
    {
      requestId: 0,
      roomId: 0n,
      senderId: 0n,
      epoch: 0n,
      ...f,
      payload,
    },
    signer,
  );
}

/** A room-state record (plain CBOR kept at rest, proto's `stateCborDecode`); throws unless a map. */
export function decodeCborMap(bytes: Uint8Array): Record<string, unknown> {
  const v: unknown = stateCborDecode(bytes);
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new TypeError("expected a CBOR map");
  }
  return v as Record<string, unknown>;
}
