/** Byte helpers on the language alone (the browser and default side of `#platform/bytes`). */

/** A cache key for bytes: one UTF-16 unit per byte (what latin1 decoding gives), exact. */
export function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}

/** Whether two byte strings are equal (not constant time: for public data). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
