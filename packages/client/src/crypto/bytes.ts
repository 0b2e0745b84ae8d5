/**
 * Small byte helpers shared by the node:crypto provider. node:crypto returns `Buffer`s,
 * some of which are views into a shared allocation pool; ts-mls keeps, compares and
 * zeroes what we hand it, so every output crosses the boundary as a plain, owned
 * `Uint8Array` (copied once, a few dozen bytes in the common case).
 */

/** An owned plain Uint8Array copy of `b` (never a pooled Buffer view). */
export function owned(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** Kept under the short name the crypto modules use. */
export { concatBytes as concat } from "@kalandra/proto";

/** I2OSP(n, w) of RFC 8017 for small widths, as used by RFC 9180 (HPKE). */
export function i2osp(n: number, w: number): Uint8Array {
  const out = new Uint8Array(w);
  for (let i = w - 1; i >= 0; i--) {
    out[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return out;
}

const utf8 = new TextEncoder();
export function ascii(s: string): Uint8Array {
  return utf8.encode(s);
}

/** A cache key for bytes: latin1 maps each byte to one UTF-16 unit, cheap and exact. */
export function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}
