/**
 * Hashes and HMAC on node:crypto (the Node side of `#platform/hash`), synchronous.
 * node:crypto's HMAC costs ~2 µs per call here against ~13 µs for @noble's pure-JS one,
 * which is why Node keeps it (the sender-key bridge runs on HMAC, issue 4).
 */
import { createHash, createHmac } from "node:crypto";

export type HashName = "sha256" | "sha384" | "sha512";

/** An owned plain copy of a node Buffer (never a view into a shared pool); the Buffer is wiped. */
function owned(b: Buffer): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  b.fill(0);
  return out;
}

export function digest(h: HashName, data: Uint8Array): Uint8Array {
  return owned(createHash(h).update(data).digest());
}

/** HMAC(key, parts[0] ‖ parts[1] ‖ …) (RFC 2104). */
export function hmac(h: HashName, key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const m = createHmac(h, key);
  for (const p of parts) m.update(p);
  return owned(m.digest());
}
