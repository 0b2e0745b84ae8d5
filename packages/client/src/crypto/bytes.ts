/**
 * Small byte helpers shared by the provider's modules. (The platform modules hand back
 * plain, owned `Uint8Array`s, never views into a shared Buffer pool: ts-mls keeps,
 * compares and zeroes what we hand it.)
 */

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

export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}
