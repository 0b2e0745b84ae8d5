/**
 * Length hiding for application plaintexts (docs/client.md "Envelope"): the encoded
 * envelope is followed by one 0x80 byte and zeros (ISO/IEC 7816-4 style) up to a bucket
 * size, so the ciphertext length reveals only the bucket:
 *
 *   bucket(n) = max(128, next power of two ≥ n)        for n ≤ 16 KiB
 *             = n rounded up to a multiple of 16 KiB    above, up to 1 MiB
 *
 * where n = content length + 1 (the marker). Unpadding is strict: the marker must be
 * present and the total length must be exactly the bucket of the content.
 */
import { EnvelopeError } from "./errors.js";

export const MIN_BUCKET = 128;
export const POW2_LIMIT = 16 * 1024;
export const MAX_PADDED_BYTES = 1024 * 1024;
const MARKER = 0x80;

export function bucketFor(n: number): number {
  if (n <= MIN_BUCKET) return MIN_BUCKET;
  if (n <= POW2_LIMIT) return 2 ** Math.ceil(Math.log2(n));
  return Math.ceil(n / POW2_LIMIT) * POW2_LIMIT;
}

export function pad(content: Uint8Array): Uint8Array {
  const size = bucketFor(content.length + 1);
  if (size > MAX_PADDED_BYTES) {
    throw new EnvelopeError(
      "TOO_LARGE",
      `envelope of ${content.length} bytes exceeds ${MAX_PADDED_BYTES}`,
    );
  }
  const out = new Uint8Array(size);
  out.set(content, 0);
  out[content.length] = MARKER;
  return out;
}

/** The content of a padded plaintext, as a view into `padded`. */
export function unpad(padded: Uint8Array): Uint8Array {
  if (padded.length > MAX_PADDED_BYTES) {
    throw new EnvelopeError(
      "TOO_LARGE",
      `plaintext of ${padded.length} bytes exceeds ${MAX_PADDED_BYTES}`,
    );
  }
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== MARKER) throw new EnvelopeError("BAD_PADDING", "no padding marker");
  if (bucketFor(i + 1) !== padded.length) {
    throw new EnvelopeError(
      "BAD_PADDING",
      `length ${padded.length} is not the bucket of ${i} content bytes`,
    );
  }
  return padded.subarray(0, i);
}
