/**
 * Seeded randomness for the simulation. One seed drives everything random in a run
 * (network faults, scheduling choices and the bytes the cores draw), so a seed replays
 * exactly. The stream is ChaCha20's keystream keyed by SHA-256(label ‖ seed): fast,
 * well-distributed, and independent streams come from distinct labels (`fork`).
 */
import { createCipheriv, createHash } from "node:crypto";
import type { Rng } from "@kalandra/proto";

const ZERO_BLOCK = new Uint8Array(4096);

export class SeededRng implements Rng {
  readonly #cipher: ReturnType<typeof createCipheriv>;
  #pool = new Uint8Array(0);
  #offset = 0;

  constructor(
    readonly seed: bigint,
    readonly label = "root",
  ) {
    const key = createHash("sha256").update(`kalandra/sim/${label}/${seed}`).digest();
    // 16-byte IV for node's chacha20: 4-byte counter + 12-byte nonce, all zero.
    this.#cipher = createCipheriv("chacha20", key, new Uint8Array(16));
  }

  /** An independent stream for one component (a node, the network, a scheduler). */
  fork(label: string): SeededRng {
    return new SeededRng(this.seed, `${this.label}/${label}`);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let written = 0;
    while (written < n) {
      if (this.#offset === this.#pool.length) {
        this.#pool = new Uint8Array(this.#cipher.update(ZERO_BLOCK));
        this.#offset = 0;
      }
      const take = Math.min(n - written, this.#pool.length - this.#offset);
      out.set(this.#pool.subarray(this.#offset, this.#offset + take), written);
      this.#offset += take;
      written += take;
    }
    return out;
  }

  /** Uniform float in [0, 1) with 53 bits of precision. */
  float(): number {
    const b = this.bytes(8);
    const hi = ((b[0]! << 13) | (b[1]! << 5) | (b[2]! >>> 3)) >>> 0; // 21 bits
    const lo = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0; // 32 bits
    return (hi * 2 ** 32 + lo) / 2 ** 53;
  }

  /** Uniform integer in [0, max). */
  int(max: number): number {
    if (!Number.isInteger(max) || max <= 0)
      throw new RangeError('"max" expected a positive integer');
    return Math.floor(this.float() * max);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('"items" expected a non-empty array');
    return items[this.int(items.length)]!;
  }
}
