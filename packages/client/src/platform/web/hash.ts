/** Hashes and HMAC on @noble/hashes (the browser and default side of `#platform/hash`). */
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";

export type HashName = "sha256" | "sha384" | "sha512";

const HASHES = { sha256, sha384, sha512 } as const;

export function digest(h: HashName, data: Uint8Array): Uint8Array {
  return HASHES[h](data);
}

/** HMAC(key, parts[0] ‖ parts[1] ‖ …) (RFC 2104). */
export function hmac(h: HashName, key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const m = nobleHmac.create(HASHES[h], key);
  for (const p of parts) m.update(p);
  return m.digest();
}
