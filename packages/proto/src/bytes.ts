/** Byte helpers shared by the packages (one copy instead of one per package). */

/** The concatenation of `parts` into one new, owned Uint8Array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Whether `a` and `b` hold the same bytes; the time taken depends only on the lengths. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}

/** Lower-case hex of `b`: the platform's codec (`#platform/bytes`). */
export { toHex } from "#platform/bytes";
