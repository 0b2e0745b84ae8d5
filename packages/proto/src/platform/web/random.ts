/** WebCrypto's CSPRNG (the browser and default side of `#platform/random`); runtimes only. */

/** getRandomValues fills at most 65,536 bytes per call (WebCrypto §10.1.1). */
const MAX_CHUNK = 65_536;

/** Fills `out` with cryptographically strong random bytes and returns it. */
export function fillRandom(out: Uint8Array): Uint8Array {
  for (let at = 0; at < out.length; at += MAX_CHUNK) {
    crypto.getRandomValues(out.subarray(at, Math.min(out.length, at + MAX_CHUNK)));
  }
  return out;
}
