/** node:crypto's CSPRNG (the Node side of `#platform/random`); runtimes only (DESIGN §2). */
import { randomFillSync } from "node:crypto";

/** Fills `out` with cryptographically strong random bytes and returns it. */
export function fillRandom(out: Uint8Array): Uint8Array {
  return randomFillSync(out);
}
