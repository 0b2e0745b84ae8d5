/** SHA-256 on node:crypto (the Node side of `#platform/sha256`). */
import { createHash } from "node:crypto";

/** SHA-256 of the concatenation of `parts`, as a plain Uint8Array. */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  const d = h.digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}
