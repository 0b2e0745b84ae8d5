/**
 * The server cores' seam to `@kalandra/proto` (DESIGN §3, docs/contracts.md "Frames"):
 * the few frame operations the sequencer and hub need, named for what they do there.
 * Frames are parsed with `Frame.fromWire` (views, no copies), payloads with the opcode
 * schemas, signatures with node:crypto through proto's `verifyFrame`.
 *
 * Ownership: a ParsedFrame's header and payload are views into the caller's buffer;
 * `stampFrame` returns a fresh buffer the caller owns.
 */
import {
  DEFAULT_MAX_PAYLOAD,
  type DeviceSigner,
  encodeFrame,
  Frame,
  type FrameHeader,
  HEADER_SIZE,
  type HeaderFields,
  Offset,
  type ProtocolErrorCode,
  stampSequence,
  verifyFrame,
} from "@kalandra/proto";
import { Decoder, Encoder } from "cbor-x";

export { ErrorCode, ProtocolError } from "@kalandra/proto";
export type ErrorName = ProtocolErrorCode;
export type FrameSigner = DeviceSigner;
export type { FrameHeader };

export interface ParsedFrame {
  header: FrameHeader;
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

/** A copy of `frame` with the sequencer's `log_index` and `hlc_timestamp` written in. */
export function stampFrame(frame: Uint8Array, logIndex: bigint, hlc: bigint): Uint8Array {
  const out = frame.slice();
  stampSequence(out, logIndex, hlc);
  return out;
}

/** The `hlc_timestamp` of a stored 128-byte header. */
export function readHlc(header: Uint8Array): bigint {
  return new DataView(header.buffer, header.byteOffset, HEADER_SIZE).getBigUint64(
    Offset.HLC_TIMESTAMP,
  );
}

/** Verifies the Ed25519 frame signature against a 32-byte device (leaf) key. */
export function verifyFrameSignature(frame: ParsedFrame, publicKey: Uint8Array): boolean {
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

// Room state only (payloads go through proto's schemas): plain CBOR, no record extension.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
// int64AsType is a cbor-x option its typings do not list yet.
const decoder = new Decoder({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: "bigint",
} as ConstructorParameters<typeof Decoder>[0]);

export function encodeCbor(value: unknown): Uint8Array {
  // cbor-x returns a view into a buffer it reuses: copy so the caller owns the bytes.
  return new Uint8Array(encoder.encode(value));
}

export function decodeCborMap(bytes: Uint8Array): Record<string, unknown> {
  const v: unknown = decoder.decode(bytes);
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new TypeError("expected a CBOR map");
  }
  return v as Record<string, unknown>;
}
