/**
 * Replayable randomness for tests: SHA-256 in counter mode over a seed, never
 * `Math.random`, so a failing run replays from its seed. The byte stream is part of
 * committed test vectors (packages/proto/test/vectors.json): do not change it.
 */
import { createHash } from "node:crypto";

/** Structurally `Rng` of @kalandra/proto (no dependency on it: proto's own tests use this). */
export interface SeededRng {
  bytes(n: number): Uint8Array;
  /** A uniform integer in [0, bound), 0 < bound <= 2^32. */
  below(bound: number): number;
}

/**
 * @example
 * const rng = seededRng("alice");
 * const key = rng.bytes(32); // the same 32 bytes on every run
 */
export function seededRng(seed: string | number): SeededRng {
  let counter = 0;
  let pool = new Uint8Array(0);
  const bytes = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (pool.length === 0)
        pool = new Uint8Array(createHash("sha256").update(`${seed}/${counter++}`).digest());
      const take = Math.min(pool.length, n - filled);
      out.set(pool.subarray(0, take), filled);
      pool = pool.subarray(take);
      filled += take;
    }
    return out;
  };
  return {
    bytes,
    below(bound: number): number {
      if (!Number.isInteger(bound) || bound <= 0 || bound > 2 ** 32)
        throw new RangeError(`"bound" expected an integer in [1, 2^32], got ${bound}`);
      // Rejection sampling: no modulo bias.
      const limit = 2 ** 32 - (2 ** 32 % bound);
      for (;;) {
        const b = bytes(4);
        const x =
          (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
        if (x < limit) return x % bound;
      }
    },
  };
}

/** `n` bytes from a fresh `seededRng(seed)`. */
export function seededBytes(seed: string | number, n: number): Uint8Array {
  return seededRng(seed).bytes(n);
}
