/** Byte helpers on Node's Buffer (the Node side of `#platform/bytes`). */

/** A cache key for bytes: latin1 maps each byte to one UTF-16 unit, cheap and exact. */
export function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}
