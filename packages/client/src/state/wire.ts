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
 * A received frame with its header fields read out (proto's `HeaderFields`, so the names are
 * the wire's); `payloadBytes` is a view.
 */
export interface WireFrame extends Required<Omit<HeaderFields, "payloadSize">> {
  signature: Uint8Array;
  payloadBytes: Uint8Array;
  /** True for a SYNC_PAGE tombstone: the payload was erased (its header stays). */
  erased: boolean;
  /** The whole frame as received (the header alone for a tombstone). */
  bytes: Uint8Array;
  readonly parts: { header: FrameHeader; payload: Uint8Array };
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

function fromHeader(
  header: FrameHeader,
  payload: Uint8Array,
  bytes: Uint8Array,
  erased: boolean,
): WireFrame {
  return {
    flags: header.flags,
    opcode: header.opcode,
    requestId: header.requestId,
    roomId: header.roomId,
    senderId: header.senderId,
    logIndex: header.logIndex,
    hlcTimestamp: header.hlcTimestamp,
    epoch: header.epoch,
    signature: header.signature,
    payloadBytes: payload,
    erased,
    bytes,
    parts: { header, payload },
  };
}

/** Parses one whole frame; throws `ProtocolError` on anything malformed. */
export function parseFrame(bytes: Uint8Array): WireFrame {
  const f = Frame.fromWire(bytes);
  return fromHeader(f.header, f.payload, bytes, false);
}

/** A SYNC_PAGE entry: the whole frame, or a tombstone whose payload was erased. */
export function parseEntry(header: Uint8Array, payload: Uint8Array | null): WireFrame {
  if (payload === null) {
    const h = FrameHeader.view(header);
    return fromHeader(h, new Uint8Array(0), header, true);
  }
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  out.set(header.subarray(0, HEADER_SIZE), 0);
  out.set(payload, HEADER_SIZE);
  return parseFrame(out);
}

/** Ed25519 check of a frame's signature against a raw 32-byte public key. */
export function verifyFrame(frame: WireFrame, publicKey: Uint8Array): boolean {
  if (frame.erased || publicKey.length !== 32) return false;
  return protoVerifyFrame(frame.parts, publicKey);
}

/** The frame's payload decoded and checked against its opcode's schema. */
export function payloadOf(f: WireFrame): Record<string, unknown> {
  return protoDecodePayload(f.opcode as never, f.payloadBytes) as Record<string, unknown>;
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
