import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HEADER_SIZE } from "../src/constants.js";
import { ProtocolError } from "../src/errors.js";
import { encodeFrame, type Frame } from "../src/frame.js";
import { ALL_OPCODES } from "../src/opcodes.js";
import { StreamDecoder } from "../src/streamDecoder.js";
import { fcParams, hex } from "./helpers.js";

function makeFrame(i: number, payloadLen: number): Uint8Array {
  const payload = new Uint8Array(payloadLen);
  for (let j = 0; j < payloadLen; j++) payload[j] = (i * 31 + j) & 0xff;
  return encodeFrame({
    opcode: ALL_OPCODES[i % ALL_OPCODES.length]!,
    requestId: i,
    roomId: BigInt(i) << 70n,
    senderId: BigInt(i + 1),
    epoch: BigInt(i * 3),
    payload,
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Cut `bytes` at the given (sorted, deduplicated) positions. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
  return "OK";
}

describe("StreamDecoder", () => {
  it("decodes many frames in one chunk as views into the chunk", () => {
    const frames = [makeFrame(0, 0), makeFrame(1, 10), makeFrame(2, 300)];
    const stream = concat(frames);
    const dec = new StreamDecoder();
    const out = dec.push(stream);
    expect(out.map((f) => hex(f.toWire()))).toEqual(frames.map(hex));
    expect(out[1]!.payload.buffer).toBe(stream.buffer);
    expect(dec.buffered).toBe(0);
    dec.end();
  });

  it("decodes a frame delivered one byte at a time", () => {
    const frame = makeFrame(3, 1000);
    const dec = new StreamDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < frame.length; i++) out.push(...dec.push(frame.subarray(i, i + 1)));
    expect(out.length).toBe(1);
    expect(out[0]!.toWire()).toEqual(frame);
  });

  it("property: every chunking of the same bytes yields the same frames", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 400 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (sizes, cuts) => {
          const frames = sizes.map((s, i) => makeFrame(i, s));
          const stream = concat(frames);
          const dec = new StreamDecoder();
          const out: string[] = [];
          for (const chunk of cut(stream, cuts)) {
            for (const f of dec.push(chunk)) out.push(hex(f.toWire()));
          }
          dec.end();
          expect(out).toEqual(frames.map(hex));
          expect(dec.buffered).toBe(0);
        },
      ),
      fcParams(300),
    );
  });

  it("refuses an oversized payload_size as soon as the header is complete", () => {
    const frame = makeFrame(1, 2000);
    const dec = new StreamDecoder({ maxPayload: 1000 });
    expect(dec.push(frame.subarray(0, HEADER_SIZE - 1))).toEqual([]);
    expect(codeOf(() => dec.push(frame.subarray(HEADER_SIZE - 1, HEADER_SIZE)))).toBe(
      "PAYLOAD_TOO_LARGE",
    );
    expect(dec.buffered).toBe(0);
    // Dead: later pushes and end() rethrow the very same error.
    let first: unknown;
    try {
      dec.push(new Uint8Array(1));
    } catch (e) {
      first = e;
    }
    expect(first).toBe(dec.error);
    expect(() => dec.end()).toThrow(dec.error!);
  });

  it("a raised payload limit admits larger frames from the next header on", () => {
    const small = makeFrame(0, 100);
    const big = makeFrame(1, 5000);
    const dec = new StreamDecoder({ maxPayload: 1000 });
    expect(dec.payloadLimit).toBe(1000);
    expect(dec.push(small).length).toBe(1);
    dec.setPayloadLimit(8000);
    expect(dec.payloadLimit).toBe(8000);
    // Split across chunks: the header is checked against the raised limit when complete.
    expect(dec.push(big.subarray(0, 200))).toEqual([]);
    const out = dec.push(big.subarray(200));
    expect(out.map((f) => hex(f.toWire()))).toEqual([hex(big)]);
    expect(() => dec.setPayloadLimit(-1)).toThrow(RangeError);
    // Without the raise the same frame is refused at its header.
    const strict = new StreamDecoder({ maxPayload: 1000 });
    expect(codeOf(() => strict.push(big.subarray(0, HEADER_SIZE)))).toBe("PAYLOAD_TOO_LARGE");
  });

  it("refuses an oversized header in the fast path too (whole header in one chunk)", () => {
    const dec = new StreamDecoder({ maxPayload: 10 });
    expect(codeOf(() => dec.push(makeFrame(0, 11).subarray(0, HEADER_SIZE)))).toBe(
      "PAYLOAD_TOO_LARGE",
    );
  });

  it("buffers no more than what was received for a huge announced payload", () => {
    const frame = makeFrame(5, 1 << 20);
    const dec = new StreamDecoder();
    dec.push(frame.subarray(0, HEADER_SIZE + 10));
    expect(dec.buffered).toBe(HEADER_SIZE + 10);
    const out = dec.push(frame.subarray(HEADER_SIZE + 10));
    expect(Buffer.compare(out[0]!.toWire(), frame)).toBe(0);
  });

  it("end() reports a stream cut inside a frame", () => {
    const dec = new StreamDecoder();
    dec.push(makeFrame(0, 4).subarray(0, 10));
    expect(codeOf(() => dec.end())).toBe("TRUNCATED");
    expect(codeOf(() => dec.push(new Uint8Array(0)))).toBe("TRUNCATED");
  });

  it("property: the error is the same for every chunking of a corrupted stream", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 200 }), { minLength: 2, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom(0, 4, 5, 6),
        (sizes, cuts, field) => {
          const frames = sizes.map((s, i) => makeFrame(i, s));
          frames[1] = frames[1]!.slice();
          frames[1][field] = 0xff; // magic, version, flags or opcode of the second frame
          const stream = concat(frames);
          const whole = codeOf(() => new StreamDecoder().push(stream));
          const dec = new StreamDecoder();
          const got: string[] = [];
          const code = codeOf(() => {
            for (const c of cut(stream, cuts))
              for (const f of dec.push(c)) got.push(hex(f.toWire()));
          });
          expect(code).toBe(whole);
          expect(code).not.toBe("OK");
          // Frames delivered before the error are a prefix of the valid ones.
          expect(got).toEqual(frames.slice(0, got.length).map(hex));
          expect(got.length).toBeLessThanOrEqual(1);
        },
      ),
      fcParams(200),
    );
  });

  it("property: random bytes only ever produce ProtocolError", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (chunks) => {
        const dec = new StreamDecoder({ maxPayload: 4096 });
        try {
          for (const c of chunks) dec.push(c);
          dec.end();
        } catch (e) {
          return e instanceof ProtocolError;
        }
        return true;
      }),
      fcParams(1000),
    );
  });
});
