/** Byte codecs on web-standard APIs (the browser and default side of `#platform/bytes`). */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of `b`. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] as number];
  return s;
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** Whether `b` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or values > U+10FFFF). */
export function isUtf8(b: Uint8Array): boolean {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
}
