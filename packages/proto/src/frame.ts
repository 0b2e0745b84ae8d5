/**
 * A whole frame: the 128-byte header followed by `payload_size` bytes of CBOR (DESIGN §3).
 * Decoding never copies: header and payload are views into the bytes given, which the
 * caller owns and must not overwrite while the frame is in use.
 */
import { DEFAULT_MAX_PAYLOAD, HEADER_SIZE } from "./constants.js";
import type { DeviceSigner } from "./ed25519.js";
import { ProtocolError } from "./errors.js";
import { FrameHeader, type HeaderFields, headerAt, validateHeader, writeHeader } from "./header.js";
import { signFrame } from "./signing.js";

export interface DecodeOptions {
  /** Largest accepted `payload_size`; default {@link DEFAULT_MAX_PAYLOAD}. */
  maxPayload?: number;
}

export function resolveMaxPayload(opts: DecodeOptions | undefined): number {
  const max = opts?.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (!Number.isInteger(max) || max < 0 || max > 0xffff_ffff) {
    throw new RangeError('"maxPayload" expected an integer in 0..2^32-1');
  }
  return max;
}

/**
 * A frame whose payload is `src[start, end)`, bounds already checked: for the frame and
 * stream decoders inside proto; not exported from the package.
 */
export function frameAt(header: FrameHeader, src: Uint8Array, start: number, end: number): Frame {
  const f = Object.create(Frame.prototype) as {
    -readonly [K in "header" | "src" | "start" | "end" | "cachedPayload"]: unknown;
  };
  f.header = header;
  f.src = src;
  f.start = start;
  f.end = end;
  f.cachedPayload = undefined;
  return f as unknown as Frame;
}

/**
 * @example
 * const frame = Frame.fromWire(bytes);            // throws ProtocolError on bad input
 * if (!verifyFrame(frame, senderKey)) reject();
 * const msg = decodePayload(Opcode.APP_MESSAGE, frame.payload);
 */
export class Frame {
  readonly header: FrameHeader;
  // The payload is `src[start, end)`; its subarray is made on first use (a subarray costs
  // more than validating a header, and routing often never touches the payload).
  private readonly src: Uint8Array;
  private readonly start: number;
  private readonly end: number;
  private cachedPayload: Uint8Array | undefined;

  constructor(header: FrameHeader, payload: Uint8Array) {
    if (!(header instanceof FrameHeader)) throw new TypeError('"header" expected FrameHeader');
    if (!(payload instanceof Uint8Array)) throw new TypeError('"payload" expected Uint8Array');
    if (header.payloadSize !== payload.length) {
      throw new RangeError("payload length differs from the header's payload_size");
    }
    this.header = header;
    this.src = payload;
    this.start = 0;
    this.end = payload.length;
    this.cachedPayload = payload;
  }

  /** The payload bytes (a subarray of the wire bytes when decoded, never a copy). */
  get payload(): Uint8Array {
    if (this.cachedPayload === undefined) {
      this.cachedPayload = this.src.subarray(this.start, this.end);
    }
    return this.cachedPayload;
  }

  /**
   * Decode exactly one frame. Checks, in order: at least 128 bytes (TRUNCATED), magic,
   * version, reserved flags, opcode, payload_size ≤ limit (PAYLOAD_TOO_LARGE), the
   * payload present (TRUNCATED), nothing after it (TRAILING_BYTES). The payload itself
   * is not decoded (see `decodePayload`) and the signature is not checked (`verifyFrame`).
   */
  static fromWire(bytes: Uint8Array, opts?: DecodeOptions): Frame {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" expected Uint8Array');
    const maxPayload = resolveMaxPayload(opts);
    if (bytes.length < HEADER_SIZE) {
      throw new ProtocolError(
        "TRUNCATED",
        `header needs ${HEADER_SIZE} bytes, got ${bytes.length}`,
      );
    }
    const header = headerAt(bytes, 0);
    validateHeader(header, maxPayload);
    const end = HEADER_SIZE + header.payloadSize;
    if (bytes.length < end) {
      throw new ProtocolError("TRUNCATED", `frame needs ${end} bytes, got ${bytes.length}`);
    }
    if (bytes.length > end) {
      throw new ProtocolError("TRAILING_BYTES", `${bytes.length - end} bytes after the frame`);
    }
    return frameAt(header, bytes, HEADER_SIZE, end);
  }

  /**
   * The wire bytes. When header and payload are adjacent in one buffer (any frame from
   * `fromWire` or the stream decoder) this is a view of that buffer, not a copy;
   * otherwise a new buffer.
   */
  toWire(): Uint8Array {
    const h = this.header.bytes;
    const p = this.payload;
    if (h.buffer === p.buffer && h.byteOffset + HEADER_SIZE === p.byteOffset) {
      return new Uint8Array(h.buffer, h.byteOffset, HEADER_SIZE + p.length);
    }
    const out = new Uint8Array(HEADER_SIZE + p.length);
    out.set(h);
    out.set(p, HEADER_SIZE);
    return out;
  }
}

/** Header fields plus the already-encoded payload (see `encodePayload`). */
export interface FrameInput extends HeaderFields {
  payload: Uint8Array;
}

/**
 * Build a frame in one new buffer: header, payload, and the signature when a signer is
 * given (otherwise the signature stays zero). `payloadSize` is taken from the payload.
 *
 * @example
 * const wire = encodeFrame({ opcode: Opcode.PING, requestId: 1, roomId: 0n,
 *   senderId: me.senderId, epoch: 0n, payload: encodePayload(Opcode.PING, { nonce: 7 }) }, me.signer);
 */
export function encodeFrame(input: FrameInput, signer?: DeviceSigner): Uint8Array {
  if (input === null || typeof input !== "object") throw new TypeError('"input" expected object');
  const { payload } = input;
  if (!(payload instanceof Uint8Array)) throw new TypeError('"payload" expected Uint8Array');
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  writeHeader(out, 0, { ...input, payloadSize: payload.length });
  out.set(payload, HEADER_SIZE);
  if (signer !== undefined) signFrame(out, signer);
  return out;
}
