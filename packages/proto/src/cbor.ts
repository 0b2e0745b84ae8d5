/**
 * The one place cbor-x is configured (CONVENTIONS §3), one configuration per purpose:
 *
 * - wire payloads (`cborEncode`/`cborDecode`, through `encodePayload`/`decodePayload`);
 * - state kept at rest by the hub and the client (`stateCborEncode`/`stateCborDecode`:
 *   storage rows, room state, the audit chain, client persistence).
 *
 * Both are plain, interoperable CBOR (RFC 8949): maps with text keys decode to plain
 * objects, no record/structure extension, byte strings without typed-array tags, bigints
 * as major type 0 integers. (Push-notification envelopes keep their own pure-JS codec in
 * the client, client/src/envelope/cbor.ts, so the notification process stays small.)
 *
 * Ownership:
 * - `cborEncode` returns a fresh Uint8Array the caller owns (cbor-x encodes into a shared
 *   buffer that later calls may reuse, so the result is copied out).
 * - `cborDecode` returns byte strings as plain `Uint8Array` *views into the input* (no
 *   copy, never a Buffer): they stay valid as long as the caller does not overwrite the
 *   input. Copy (`.slice()`) what you keep beyond the life of the input buffer.
 *
 * cbor-x alone is lenient (replaces invalid UTF-8, lets duplicate keys overwrite, turns
 * tags into Dates/bigints, decodes integer-valued floats as integers): `decodePayload`
 * therefore runs `checkStrictCbor` (cborCheck.ts) first, and the schema validator checks
 * every decoded value afterwards.
 */
import { Encoder } from "cbor-x";

const codec = new Encoder({
  mapsAsObjects: true,
  useRecords: false,
  tagUint8Array: false,
  variableMapSize: true,
  largeBigIntToFloat: false,
  // Never turn byte strings into Buffers backed by a copy: we want views (see above).
  copyBuffers: false,
  bundleStrings: false,
  pack: false,
});

/** Encode a value (objects, arrays, text, Uint8Array, booleans, numbers, bigints, null). */
export function cborEncode(value: unknown): Uint8Array {
  const out = codec.encode(value);
  // A plain Uint8Array copy (slice() on a Buffer would yield a Buffer again).
  const copy = new Uint8Array(out.length);
  copy.set(out);
  return copy;
}

/**
 * Decode exactly one CBOR data item spanning all of `bytes`. Throws whatever cbor-x throws
 * on malformed input; callers wrap it (see payloads/codec.ts).
 */
export function cborDecode(bytes: Uint8Array): unknown {
  // A fresh plain view: cbor-x caches a `dataView` property on its source object, which we
  // keep off the caller's array, and byte strings come out as plain subarrays of it.
  return codec.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

// State at rest: every 64-bit integer decodes as a bigint, so a bigint written comes back
// as a bigint. `int64AsType` is honoured by cbor-x 1.6.8 but missing from its typings.
const stateCodec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  int64AsType: "bigint",
} as ConstructorParameters<typeof Encoder>[0]);

/** Encode state kept at rest; returns a fresh Uint8Array the caller owns. */
export function stateCborEncode(value: unknown): Uint8Array {
  return new Uint8Array(stateCodec.encode(value));
}

/**
 * Decode state kept at rest (also reads records written with cbor-x's defaults, whose
 * byte strings carry typed-array tags). Byte strings may be views into `bytes`: copy what
 * you keep.
 */
export function stateCborDecode(bytes: Uint8Array): unknown {
  return stateCodec.decode(bytes);
}
