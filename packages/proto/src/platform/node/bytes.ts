/** Byte codecs on Node's Buffer (the Node side of `#platform/bytes`): native and fast. */
import { isUtf8 as nodeIsUtf8 } from "node:buffer";

/** Lower-case hex of `b` (no copy of the bytes). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Whether `b` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or values > U+10FFFF). */
export function isUtf8(b: Uint8Array): boolean {
  return nodeIsUtf8(b);
}
