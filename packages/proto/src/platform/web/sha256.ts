/** SHA-256 on @noble/hashes (the browser and default side of `#platform/sha256`). */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}
