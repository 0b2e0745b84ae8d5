/** Byte helpers on Node's Buffer (the Node side of `#platform/bytes`). */

/** A cache key for bytes: latin1 maps each byte to one UTF-16 unit, cheap and exact. */
export function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Whether two byte strings are equal: memcmp, for large inputs (not constant time). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
