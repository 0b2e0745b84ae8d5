/**
 * Frames out of a byte stream (a QUIC/WebTransport stream or a TCP socket): feed chunks of
 * any size, get whole frames back, however the frames were cut (DESIGN §3).
 *
 * Rules (docs/protocol.md "Streaming"):
 * - A header is validated as soon as its 128 bytes are in, before any payload byte is
 *   buffered, so an oversized `payload_size` is refused without spending memory on it.
 * - A partial frame is buffered in storage that grows with the bytes actually received
 *   (doubling, capped at the frame size), so a peer announcing 16 MiB and sending one byte
 *   costs about one byte.
 * - Frames that lie wholly inside one chunk are returned as views into that chunk (no
 *   copy); the caller must not overwrite a chunk after pushing it. Frames that spanned
 *   chunks live in their own buffer.
 * - The first error kills the decoder: `push` throws that ProtocolError, and every later
 *   `push`/`end` throws the same error. Frames of the failing chunk that preceded the bad
 *   bytes are not returned (the connection is going away).
 */
import { HEADER_SIZE } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { type DecodeOptions, type Frame, frameAt, resolveMaxPayload } from "./frame.js";
import { FrameHeader, headerAt, validateHeader } from "./header.js";

/**
 * @example
 * const dec = new StreamDecoder({ maxPayload: 1 << 20 });
 * socket.on("data", (chunk) => { for (const f of dec.push(chunk)) handle(f); });
 */
export class StreamDecoder {
  private maxPayload: number;
  /** Bytes of the partial frame (capacity grows towards `need`). */
  private buf: Uint8Array = new Uint8Array(0);
  private got = 0;
  /** 0 when idle; HEADER_SIZE while the header is incomplete; else the whole frame size. */
  private need = 0;
  private failure: ProtocolError | undefined;

  constructor(opts?: DecodeOptions) {
    this.maxPayload = resolveMaxPayload(opts);
  }

  /** The largest `payload_size` a header may declare now. */
  get payloadLimit(): number {
    return this.maxPayload;
  }

  /**
   * Changes the limit for headers not yet validated (a hub raises its small pre-auth limit
   * once the session is authenticated). A frame whose header was already accepted keeps
   * its size; frames of a chunk already pushed were checked against the old limit.
   */
  setPayloadLimit(maxPayload: number): void {
    this.maxPayload = resolveMaxPayload({ maxPayload });
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.got;
  }

  /** The error that killed this decoder, if any. */
  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /** Feed the next chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failure !== undefined) throw this.failure;
    if (!(chunk instanceof Uint8Array)) throw new TypeError('"chunk" expected Uint8Array');
    try {
      return this.consume(chunk);
    } catch (e) {
      this.failure =
        e instanceof ProtocolError ? e : new ProtocolError("INTERNAL", String(e), { cause: e });
      this.buf = new Uint8Array(0);
      this.got = 0;
      throw this.failure;
    }
  }

  /** Declare the end of the stream: throws TRUNCATED if a frame was cut short. */
  end(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.got > 0) {
      this.failure = new ProtocolError("TRUNCATED", `stream ended ${this.got} bytes into a frame`);
      throw this.failure;
    }
  }

  private consume(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.need === 0) {
        // Idle: decode whole frames in place; buffer only a frame cut by the chunk's end.
        const avail = n - pos;
        let need = HEADER_SIZE;
        if (avail >= HEADER_SIZE) {
          const header = headerAt(chunk, pos);
          validateHeader(header, this.maxPayload);
          need = HEADER_SIZE + header.payloadSize;
          if (avail >= need) {
            frames.push(frameAt(header, chunk, pos + HEADER_SIZE, pos + need));
            pos += need;
            continue;
          }
        }
        this.need = need;
        this.append(chunk.subarray(pos));
        return frames;
      }
      const take = Math.min(this.need - this.got, n - pos);
      this.append(chunk.subarray(pos, pos + take));
      pos += take;
      if (this.got < this.need) return frames;
      if (this.need === HEADER_SIZE) {
        // The header just completed: check it before accepting any payload byte.
        const header = FrameHeader.view(this.buf);
        validateHeader(header, this.maxPayload);
        this.need = HEADER_SIZE + header.payloadSize;
        if (this.need > HEADER_SIZE) continue;
      }
      const bytes = this.buf.length === this.got ? this.buf : this.buf.slice(0, this.got);
      frames.push(frameAt(headerAt(bytes, 0), bytes, HEADER_SIZE, bytes.length));
      this.buf = new Uint8Array(0);
      this.got = 0;
      this.need = 0;
    }
    return frames;
  }

  private append(bytes: Uint8Array): void {
    const want = this.got + bytes.length;
    if (want > this.buf.length) {
      let cap = Math.max(this.buf.length * 2, HEADER_SIZE);
      while (cap < want) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, Math.max(this.need, want)));
      grown.set(this.buf.subarray(0, this.got));
      this.buf = grown;
    }
    this.buf.set(bytes, this.got);
    this.got = want;
  }
}
