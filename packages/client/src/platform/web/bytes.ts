/** Byte helpers on the language alone (the browser and default side of `#platform/bytes`). */

/** A cache key for bytes: one UTF-16 unit per byte (what latin1 decoding gives), exact. */
export function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}
