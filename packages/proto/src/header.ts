/**
 * The fixed 128-byte frame header (DESIGN §3): a zero-copy view for reading and a writer
 * for building. Reading never copies: `FrameHeader` keeps a DataView over the caller's
 * bytes, so it is only as stable as those bytes (the caller owns them and must not reuse
 * the buffer while the header is in use).
 */
import {
  HEADER_SIZE,
  MAGIC,
  Offset,
  SIGNATURE_SIZE,
  U32_MAX,
  U64_MAX,
  U128_MAX,
  VERSION,
} from "./constants.js";
import { ProtocolError } from "./errors.js";
import { KNOWN_FLAGS_MASK } from "./opcodes.js";
import { isOpcode } from "./opcodeTraits.js";

/** The fields a sender chooses; `writeHeader` fills magic, version and a zero signature. */
export interface HeaderFields {
  /** Bit set of `Flag`; 0 when omitted. */
  flags?: number;
  opcode: number;
  /** u32 chosen by the sender; (sender_id, request_id) makes a request idempotent. */
  requestId: number;
  /** u128. */
  roomId: bigint;
  /** u64; 0 is the hub. */
  senderId: bigint;
  /** u64 assigned by the sequencer; 0 (the default) in requests. */
  logIndex?: bigint;
  /** u64 hybrid logical clock assigned by the sequencer; 0 (the default) in requests. */
  hlcTimestamp?: bigint;
  /** u64 MLS epoch the frame was made in. */
  epoch: bigint;
  /** u32 length of the payload that follows; 0 when omitted. */
  payloadSize?: number;
}

/**
 * Same as `FrameHeader.view` for callers inside proto that already checked the bounds
 * (the frame and stream decoders); not exported from the package.
 */
export function headerAt(bytes: Uint8Array, offset: number): FrameHeader {
  return new (FrameHeader as unknown as HeaderConstructor)(bytes, offset);
}
type HeaderConstructor = new (src: Uint8Array, off: number) => FrameHeader;

/**
 * A read-only view of a header inside received bytes. Getters decode on demand from a
 * DataView, so constructing one costs an object and a DataView and nothing else.
 *
 * @example
 * const h = FrameHeader.view(bytes);
 * if (h.opcode === Opcode.APP_MESSAGE) route(h.roomId, h.epoch);
 */
export class FrameHeader {
  // The source bytes and the header's offset in them. Getters read the bytes directly:
  // creating a DataView or a subarray per frame costs more than decoding the whole header
  // (~200 ns and ~120 ns on Node 20), so `bytes` and `signature` are made on demand.
  private readonly src: Uint8Array;
  private readonly off: number;
  private cachedBytes: Uint8Array | undefined;
  private cachedSignature: Uint8Array | undefined;

  private constructor(src: Uint8Array, off: number) {
    this.src = src;
    this.off = off;
    this.cachedBytes = off === 0 && src.length === HEADER_SIZE ? src : undefined;
    this.cachedSignature = undefined;
  }

  /**
   * View the header at `offset` of `bytes` without checking its contents (use
   * `Frame.fromWire`/`validateHeader` for untrusted input). Throws `TRUNCATED` when fewer
   * than 128 bytes are available.
   */
  static view(bytes: Uint8Array, offset = 0): FrameHeader {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('"bytes" expected Uint8Array');
    if (!Number.isInteger(offset) || offset < 0) {
      throw new RangeError('"offset" expected a non-negative integer');
    }
    if (bytes.length - offset < HEADER_SIZE) {
      throw new ProtocolError(
        "TRUNCATED",
        `header needs ${HEADER_SIZE} bytes, got ${Math.max(0, bytes.length - offset)}`,
      );
    }
    return new FrameHeader(bytes, offset);
  }

  private u32(o: number): number {
    const b = this.src;
    const i = this.off + o;
    return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  }

  private u64(o: number): bigint {
    const hi = this.u32(o);
    const lo = this.u32(o + 4);
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** The 128 header bytes (a subarray of the input, not a copy). */
  get bytes(): Uint8Array {
    if (this.cachedBytes === undefined) {
      this.cachedBytes = this.src.subarray(this.off, this.off + HEADER_SIZE);
    }
    return this.cachedBytes;
  }

  get magic(): number {
    return this.u32(Offset.MAGIC);
  }
  get version(): number {
    return this.src[this.off + Offset.VERSION]!;
  }
  get flags(): number {
    return this.src[this.off + Offset.FLAGS]!;
  }
  get opcode(): number {
    const i = this.off + Offset.OPCODE;
    return (this.src[i]! << 8) | this.src[i + 1]!;
  }
  get requestId(): number {
    return this.u32(Offset.REQUEST_ID);
  }
  /** u128 as bigint (four big-endian u32 words). */
  get roomId(): bigint {
    const a = this.u32(Offset.ROOM_ID);
    const b = this.u32(Offset.ROOM_ID + 4);
    const lo = this.u64(Offset.ROOM_ID + 8);
    if ((a | b) === 0) return lo;
    return (((BigInt(a) << 32n) | BigInt(b)) << 64n) | lo;
  }
  get senderId(): bigint {
    return this.u64(Offset.SENDER_ID);
  }
  get logIndex(): bigint {
    return this.u64(Offset.LOG_INDEX);
  }
  get hlcTimestamp(): bigint {
    return this.u64(Offset.HLC_TIMESTAMP);
  }
  get epoch(): bigint {
    return this.u64(Offset.EPOCH);
  }
  get payloadSize(): number {
    return this.u32(Offset.PAYLOAD_SIZE);
  }
  /** The 64-byte Ed25519 signature (a subarray, not a copy). */
  get signature(): Uint8Array {
    if (this.cachedSignature === undefined) {
      const i = this.off + Offset.SIGNATURE;
      this.cachedSignature = this.src.subarray(i, i + SIGNATURE_SIZE);
    }
    return this.cachedSignature;
  }

  /** True when every bit of `flag` is set. */
  has(flag: number): boolean {
    return (this.flags & flag) === flag;
  }

  /** The fields as a plain object (for logs and tests; allocates). */
  toFields(): Required<HeaderFields> {
    return {
      flags: this.flags,
      opcode: this.opcode,
      requestId: this.requestId,
      roomId: this.roomId,
      senderId: this.senderId,
      logIndex: this.logIndex,
      hlcTimestamp: this.hlcTimestamp,
      epoch: this.epoch,
      payloadSize: this.payloadSize,
    };
  }
}

/**
 * Check an untrusted header, in this order: magic, version, reserved flags, opcode,
 * payload_size against `maxPayload`. The order is part of the contract (test vectors
 * depend on it). Throws ProtocolError.
 */
export function validateHeader(header: FrameHeader, maxPayload: number): void {
  const magic = header.magic;
  if (magic !== MAGIC) {
    throw new ProtocolError("BAD_MAGIC", `magic 0x${magic.toString(16).padStart(8, "0")}`);
  }
  const version = header.version;
  if (version !== VERSION) throw new ProtocolError("BAD_VERSION", `version ${version}`);
  const flags = header.flags;
  if ((flags & ~KNOWN_FLAGS_MASK) !== 0) {
    throw new ProtocolError("RESERVED_FLAGS", `flags 0b${flags.toString(2)}`);
  }
  const opcode = header.opcode;
  if (!isOpcode(opcode)) {
    throw new ProtocolError("UNKNOWN_OPCODE", `opcode 0x${opcode.toString(16).padStart(4, "0")}`);
  }
  const size = header.payloadSize;
  if (size > maxPayload) {
    throw new ProtocolError("PAYLOAD_TOO_LARGE", `payload_size ${size} > limit ${maxPayload}`);
  }
}

function checkUint(name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`"${name}" expected an integer in 0..${max}`);
  }
  return v;
}

function checkBig(name: string, v: unknown, max: bigint): bigint {
  if (typeof v !== "bigint" || v < 0n || v > max) {
    throw new RangeError(`"${name}" expected a bigint in 0..${max}`);
  }
  return v;
}

/**
 * Write a header at `target[offset..offset+128]`: magic, version, the given fields and a
 * zero signature (sign afterwards with `signFrame`). Throws RangeError/TypeError for a
 * field out of range, an unknown opcode or reserved flags — a writer never emits a header
 * that `validateHeader` would reject (payload_size limits aside).
 */
export function writeHeader(target: Uint8Array, offset: number, fields: HeaderFields): void {
  if (!(target instanceof Uint8Array)) throw new TypeError('"target" expected Uint8Array');
  checkUint("offset", offset, Number.MAX_SAFE_INTEGER);
  if (target.length - offset < HEADER_SIZE) {
    throw new RangeError(`"target" needs ${HEADER_SIZE} bytes at offset ${offset}`);
  }
  if (fields === null || typeof fields !== "object") {
    throw new TypeError('"fields" expected HeaderFields');
  }
  const flags = checkUint("flags", fields.flags ?? 0, 0xff);
  if ((flags & ~KNOWN_FLAGS_MASK) !== 0) throw new RangeError(`"flags" has reserved bits set`);
  const opcode = checkUint("opcode", fields.opcode, 0xffff);
  if (!isOpcode(opcode)) throw new RangeError(`"opcode" 0x${opcode.toString(16)} is not defined`);
  const requestId = checkUint("requestId", fields.requestId, U32_MAX);
  const roomId = checkBig("roomId", fields.roomId, U128_MAX);
  const senderId = checkBig("senderId", fields.senderId, U64_MAX);
  const logIndex = checkBig("logIndex", fields.logIndex ?? 0n, U64_MAX);
  const hlc = checkBig("hlcTimestamp", fields.hlcTimestamp ?? 0n, U64_MAX);
  const epoch = checkBig("epoch", fields.epoch, U64_MAX);
  const payloadSize = checkUint("payloadSize", fields.payloadSize ?? 0, U32_MAX);

  const dv = new DataView(target.buffer, target.byteOffset + offset, HEADER_SIZE);
  dv.setUint32(Offset.MAGIC, MAGIC);
  dv.setUint8(Offset.VERSION, VERSION);
  dv.setUint8(Offset.FLAGS, flags);
  dv.setUint16(Offset.OPCODE, opcode);
  dv.setUint32(Offset.REQUEST_ID, requestId);
  dv.setBigUint64(Offset.ROOM_ID, roomId >> 64n);
  dv.setBigUint64(Offset.ROOM_ID + 8, roomId & U64_MAX);
  dv.setBigUint64(Offset.SENDER_ID, senderId);
  dv.setBigUint64(Offset.LOG_INDEX, logIndex);
  dv.setBigUint64(Offset.HLC_TIMESTAMP, hlc);
  dv.setBigUint64(Offset.EPOCH, epoch);
  dv.setUint32(Offset.PAYLOAD_SIZE, payloadSize);
  target.fill(0, offset + Offset.SIGNATURE, offset + HEADER_SIZE);
}

/**
 * Stamp the sequencer's order and time into a header in place (contracts.md "Frames").
 * The sender's signature stays valid: both fields are zeroed in the signed view.
 */
export function stampSequence(
  headerBytes: Uint8Array,
  logIndex: bigint,
  hlcTimestamp: bigint,
): void {
  if (!(headerBytes instanceof Uint8Array) || headerBytes.length < HEADER_SIZE) {
    throw new TypeError(`"headerBytes" expected Uint8Array of at least ${HEADER_SIZE} bytes`);
  }
  const dv = new DataView(headerBytes.buffer, headerBytes.byteOffset, HEADER_SIZE);
  dv.setBigUint64(Offset.LOG_INDEX, checkBig("logIndex", logIndex, U64_MAX));
  dv.setBigUint64(Offset.HLC_TIMESTAMP, checkBig("hlcTimestamp", hlcTimestamp, U64_MAX));
}

/**
 * A copy of a whole frame with the sequencer's `log_index` and `hlc_timestamp` stamped in:
 * the copy the sequencer stores and fans out, owned by the caller (the received bytes
 * may be a view into a transport's reused buffer).
 */
export function stampFrame(
  frameBytes: Uint8Array,
  logIndex: bigint,
  hlcTimestamp: bigint,
): Uint8Array {
  const out = new Uint8Array(frameBytes.length); // a plain copy even when given a Buffer
  out.set(frameBytes);
  stampSequence(out, logIndex, hlcTimestamp);
  return out;
}
