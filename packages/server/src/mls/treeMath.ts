/**
 * Array-representation tree math of RFC 9420 Appendix C, for trees of 2^(d+1)-1 nodes
 * (the hub keeps its trees full: ts-mls extends decoded trees the same way).
 */

export function level(x: number): number {
  if ((x & 1) === 0) return 0;
  let k = 0;
  while (((x >> k) & 1) === 1) k++;
  return k;
}
export function leftChild(x: number): number {
  const k = level(x);
  return x ^ (1 << (k - 1));
}
export function rightChild(x: number): number {
  const k = level(x);
  return x ^ (3 << (k - 1));
}
export function parentOf(x: number): number {
  const k = level(x);
  const b = (x >> (k + 1)) & 1;
  return (x | (1 << k)) ^ (b << (k + 1));
}
export function rootOf(nodeCount: number): number {
  return (1 << Math.floor(Math.log2(nodeCount))) - 1;
}
/** Smallest 2^(d+1)-1 ≥ n. */
export function fullSize(n: number): number {
  let s = 1;
  while (s < n) s = s * 2 + 1;
  return s;
}
