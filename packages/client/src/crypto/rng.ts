/**
 * Randomness for the provider. Every random draw the provider makes (HPKE ephemeral and
 * generated keys, signature key generation, and ts-mls's own `cs.rng` draws: path
 * secrets, reuse guards, epoch secrets) comes from one injected `Rng`, so a simulation
 * with a seeded Rng replays MLS byte for byte (DESIGN §2, §8).
 */
import { type Rng, systemRng } from "@kalandra/proto";
import type { Rng as MlsRng } from "ts-mls";

export type { Rng };

/** Adapts a Kalandra `Rng` (`bytes(n)`) to ts-mls's (`randomBytes(n)`). */
export function toMlsRng(rng: Rng): MlsRng {
  return {
    randomBytes(n: number): Uint8Array {
      const out = rng.bytes(n);
      if (out.length !== n) {
        throw new RangeError(`rng.bytes(${n}) returned ${out.length} bytes`);
      }
      return out;
    },
  };
}

/** The platform's CSPRNG: proto's `systemRng` (node:crypto in Node, WebCrypto in browsers). */
export const defaultRng: Rng = systemRng;
