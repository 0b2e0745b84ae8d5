/**
 * The client's one seam onto the frame format (DESIGN §3, docs/contracts.md "Frames"),
 * on `@kalandra/proto`: every frame the client sends or receives passes through
 * `buildFrame` / `parseFrame`, payloads through proto's strict per-opcode schemas.
 */
import {
  type DeviceSigner,
  encodeFrame,
  encodePayload,
  Frame,
  FrameHeader,
  HEADER_SIZE,
  type HeaderFields,
  ProtocolError,
  decodePayload as protoDecodePayload,
  verifyFrame as protoVerifyFrame,
} from "@kalandra/proto";

/**
 * A frame the client received, as proto reads it: the header view and the payload view into
 * `bytes` (no field is copied out), or a SYNC_PAGE tombstone whose payload was erased.
 */
export interface ReceivedFrame {
  readonly header: FrameHeader;
  /** View into `bytes`; empty for a tombstone. */
  readonly payload: Uint8Array;
  /** True for a SYNC_PAGE tombstone: the payload was erased (its header stays). */
  readonly erased: boolean;
  /** The whole frame as received (the header alone for a tombstone). */
  readonly bytes: Uint8Array;
}

/** The header fields of a frame to send, and its payload object (checked by proto's schema). */
export interface FrameFields extends Omit<HeaderFields, "payloadSize"> {
  payload: Record<string, unknown>;
}

/** Builds and signs one frame. */
export function buildFrame(f: FrameFields, signer: DeviceSigner): Uint8Array {
  const payload = encodePayload(f.opcode as never, f.payload as never);
  const input = { ...f, requestId: f.requestId >>> 0, payload };
  return encodeFrame(input, signer);
}

/** Parses one whole frame; throws `ProtocolError` on anything malformed. */
export function parseFrame(bytes: Uint8Array): ReceivedFrame {
  const f = Frame.fromWire(bytes);
  return { header: f.header, payload: f.payload, erased: false, bytes };
}

/** A SYNC_PAGE entry: the whole frame, or a tombstone whose payload was erased. */
export function parseEntry(header: Uint8Array, payload: Uint8Array | null): ReceivedFrame {
  if (payload === null) {
    return {
      header: FrameHeader.view(header),
      payload: new Uint8Array(0),
      erased: true,
      bytes: header,
    };
  }
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  out.set(header.subarray(0, HEADER_SIZE), 0);
  out.set(payload, HEADER_SIZE);
  return parseFrame(out);
}

/** Ed25519 check of a frame's signature against a raw 32-byte public key. */
export function verifyFrame(frame: ReceivedFrame, publicKey: Uint8Array): boolean {
  if (frame.erased || publicKey.length !== 32) return false;
  return protoVerifyFrame(frame, publicKey);
}

/** The frame's payload decoded and checked against its opcode's schema. */
export function payloadOf(f: ReceivedFrame): Record<string, unknown> {
  return protoDecodePayload(f.header.opcode as never, f.payload) as Record<string, unknown>;
}

/** Typed field readers over a decoded payload; a missing or mistyped field throws. */
export function fieldBytes(p: Record<string, unknown>, key: string): Uint8Array {
  const v = p[key];
  if (!(v instanceof Uint8Array)) throw new ProtocolError("BAD_PAYLOAD", `"${key}" expected bytes`);
  return v;
}

export function fieldU64(p: Record<string, unknown>, key: string): bigint {
  const v = p[key];
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return BigInt(v);
  throw new ProtocolError("BAD_PAYLOAD", `"${key}" expected uint`);
}

export function fieldNumber(p: Record<string, unknown>, key: string): number {
  const v = p[key];
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "bigint") return Number(v);
  throw new ProtocolError("BAD_PAYLOAD", `"${key}" expected uint`);
}

export function fieldText(p: Record<string, unknown>, key: string): string {
  const v = p[key];
  if (typeof v !== "string") throw new ProtocolError("BAD_PAYLOAD", `"${key}" expected text`);
  return v;
}

export function fieldArray(p: Record<string, unknown>, key: string): unknown[] {
  const v = p[key];
  if (!Array.isArray(v)) throw new ProtocolError("BAD_PAYLOAD", `"${key}" expected array`);
  return v;
}
