/**
 * The slice of the wire format (DESIGN §3) the network runtime needs before a frame
 * reaches the hub core: header fields, stream splitting with a hard size limit, Ed25519
 * frame signatures and the hub's own session/error frames. Kept in one module so the
 * runtime can switch to @kalandra/proto's codec in one place; the layout is the fixed
 * 128-byte header of DESIGN §3 and the signed view of docs/contracts.md.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { Flag, KNOWN_FLAGS_MASK, Opcode } from "@kalandra/proto";
import { decode as cborDecode, Encoder } from "cbor-x";

export const HEADER_SIZE = 128;
export const MAGIC = 0x53554e44;
export const VERSION = 1;

/**
 * Error codes carried in ERROR frames the runtime emits; names and numbers are those of
 * @kalandra/proto's `ErrorCode` (the wire contract), restricted to what the runtime raises.
 */
export const RuntimeErrorCode = {
  BAD_MAGIC: 1,
  BAD_VERSION: 2,
  RESERVED_FLAGS: 3,
  UNKNOWN_OPCODE: 4,
  PAYLOAD_TOO_LARGE: 5,
  TRUNCATED: 6,
  BAD_PAYLOAD: 8,
  BAD_SIGNATURE: 9,
  UNAUTHENTICATED: 100,
  SENDER_MISMATCH: 101,
  RATE_LIMITED: 104,
  TOO_MANY_CONNECTIONS: 105,
  TOO_MANY_ROOMS: 106,
  ROOM_FULL: 202,
  INTERNAL: 500,
} as const;
export type RuntimeErrorName = keyof typeof RuntimeErrorCode;

/** A refusal found while reading bytes; `fatal` ones end the session (the stream is unusable). */
export class WireError extends Error {
  override readonly name = "WireError";
  constructor(
    readonly code: RuntimeErrorName,
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

export interface Header {
  flags: number;
  opcode: number;
  requestId: number;
  roomId: bigint;
  senderId: bigint;
  logIndex: bigint;
  hlc: bigint;
  epoch: bigint;
  payloadSize: number;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Reads the header of a whole frame (`frame.length >= 128`). */
export function readHeader(frame: Uint8Array): Header {
  const v = view(frame);
  return {
    flags: v.getUint8(5),
    opcode: v.getUint16(6),
    requestId: v.getUint32(8),
    roomId: (v.getBigUint64(12) << 64n) | v.getBigUint64(20),
    senderId: v.getBigUint64(28),
    logIndex: v.getBigUint64(36),
    hlc: v.getBigUint64(44),
    epoch: v.getBigUint64(52),
    payloadSize: v.getUint32(60),
  };
}

/** The bytes a frame signature covers: header 0..64 with log_index and hlc zeroed, then the payload. */
export function signedView(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(64 + frame.length - HEADER_SIZE);
  out.set(frame.subarray(0, 64), 0);
  out.fill(0, 36, 52);
  out.set(frame.subarray(HEADER_SIZE), 64);
  return out;
}

const SPKI_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** node:crypto key object for a raw 32-byte Ed25519 public key (node:crypto verifies ~20x faster than noble). */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: "der",
    type: "spki",
  });
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
}

export function ed25519RawPublic(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function verifyFrameSignature(frame: Uint8Array, publicKey: KeyObject): boolean {
  if (frame.length < HEADER_SIZE) return false;
  return verify(null, signedView(frame), publicKey, frame.subarray(64, 128));
}

export interface FrameFields {
  flags?: number;
  opcode: number;
  requestId?: number;
  roomId?: bigint;
  senderId?: bigint;
  logIndex?: bigint;
  hlc?: bigint;
  epoch?: bigint;
}

/** Builds a whole frame and signs it with `privateKey` (DESIGN §3). */
export function buildFrame(
  fields: FrameFields,
  payload: Uint8Array,
  privateKey: KeyObject,
): Uint8Array {
  const frame = new Uint8Array(HEADER_SIZE + payload.length);
  const v = view(frame);
  v.setUint32(0, MAGIC);
  v.setUint8(4, VERSION);
  v.setUint8(5, fields.flags ?? 0);
  v.setUint16(6, fields.opcode);
  v.setUint32(8, fields.requestId ?? 0);
  const room = fields.roomId ?? 0n;
  v.setBigUint64(12, room >> 64n);
  v.setBigUint64(20, room & 0xffff_ffff_ffff_ffffn);
  v.setBigUint64(28, fields.senderId ?? 0n);
  v.setBigUint64(36, fields.logIndex ?? 0n);
  v.setBigUint64(44, fields.hlc ?? 0n);
  v.setBigUint64(52, fields.epoch ?? 0n);
  v.setUint32(60, payload.length);
  frame.set(payload, HEADER_SIZE);
  frame.set(sign(null, signedView(frame), privateKey), 64);
  return frame;
}

// Plain interoperable CBOR (no record extension), u64 fields as bigint when large.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

export function encodeCbor(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** Decodes a CBOR payload map; throws WireError(BAD_PAYLOAD) on anything else. */
export function decodeCborMap(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = cborDecode(bytes);
  } catch {
    throw new WireError("BAD_PAYLOAD", "payload is not valid CBOR", false);
  }
  if (
    value === null ||
    typeof value !== "object" ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  ) {
    throw new WireError("BAD_PAYLOAD", "payload is not a CBOR map", false);
  }
  return value as Record<string, unknown>;
}

/** Checks the fixed header fields of a frame whose header is complete. */
export function checkHeader(header: Uint8Array, maxPayload: number): number {
  const v = view(header);
  if (v.getUint32(0) !== MAGIC) throw new WireError("BAD_MAGIC", "magic is not SUND", true);
  if (v.getUint8(4) !== VERSION)
    throw new WireError("BAD_VERSION", `version ${v.getUint8(4)} is not 1`, true);
  const size = v.getUint32(60);
  if (size > maxPayload) {
    throw new WireError(
      "PAYLOAD_TOO_LARGE",
      `payload_size ${size} exceeds the limit ${maxPayload}`,
      true,
    );
  }
  const flags = v.getUint8(5);
  if ((flags & ~KNOWN_FLAGS_MASK) !== 0)
    throw new WireError("RESERVED_FLAGS", `unknown flag bits 0x${flags.toString(16)}`, false);
  return size;
}

/**
 * Splits a byte stream into whole frames. Checks magic, version and payload_size as soon
 * as a header is complete, so an oversized frame is refused before its payload is buffered.
 * Returned frames are fresh copies the caller may keep.
 */
export class FrameSplitter {
  private buf: Uint8Array = new Uint8Array(0);
  private need = HEADER_SIZE;
  private haveHeader = false;

  constructor(private maxPayload: number) {}

  setMaxPayload(n: number): void {
    this.maxPayload = n;
  }

  /** Appends a chunk and returns the frames it completed; throws WireError on bad bytes. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.buf = this.buf.length === 0 ? chunk.slice() : Buffer.concat([this.buf, chunk]);
    const out: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      const avail = this.buf.length - off;
      if (!this.haveHeader) {
        if (avail < HEADER_SIZE) break;
        const size = checkHeader(this.buf.subarray(off, off + HEADER_SIZE), this.maxPayload);
        this.need = HEADER_SIZE + size;
        this.haveHeader = true;
      }
      if (avail < this.need) break;
      out.push(this.buf.slice(off, off + this.need));
      off += this.need;
      this.haveHeader = false;
      this.need = HEADER_SIZE;
    }
    this.buf = off === 0 ? this.buf : this.buf.slice(off);
    return out;
  }

  /** Bytes of an incomplete frame still buffered (non-zero at end of stream = truncated). */
  get pending(): number {
    return this.buf.length;
  }
}

export interface HubKey {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/** An ERROR response frame (RESPONSE|ERROR flags, sender 0, signed by the hub). */
export function errorFrame(
  hub: HubKey,
  code: RuntimeErrorName,
  message: string,
  requestId = 0,
  roomId = 0n,
): Uint8Array {
  const payload = encodeCbor({ code: RuntimeErrorCode[code], name: code, message });
  return buildFrame(
    { flags: Flag.RESPONSE | Flag.ERROR, opcode: Opcode.ERROR, requestId, roomId },
    payload,
    hub.privateKey,
  );
}
