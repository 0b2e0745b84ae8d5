/**
 * The one place cbor-x is configured for envelopes (CONVENTIONS §3): plain,
 * interoperable CBOR — no record extension, no typed-array tags, maps decode to plain
 * objects. The `cbor-x/encode` and `cbor-x/decode` subpaths load the pure-JS build (no
 * native string extractor), which keeps the notification process small.
 *
 * Ownership: `cborDecode` may return byte strings as views into `bytes`; callers copy
 * what they keep (the envelope validator does).
 */
import { Decoder } from "cbor-x/decode";
import { Encoder } from "cbor-x/encode";

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
});
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Encodes a plain value; the result is a fresh copy the caller owns. */
export function cborEncode(value: unknown): Uint8Array {
  return new Uint8Array(encoder.encode(value));
}

/** Decodes exactly one CBOR item spanning all of `bytes`; throws on anything else. */
export function cborDecode(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
