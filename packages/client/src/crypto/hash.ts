/**
 * Hash, HMAC and HKDF (RFC 5869), synchronously, on the platform's hashes
 * (`#platform/hash`: node:crypto in Node, @noble/hashes elsewhere). ts-mls's interface is
 * Promise-based; we return already-resolved promises, so the cost of an operation is the
 * hash itself plus one microtask, instead of a WebCrypto round trip through libuv's
 * thread pool (PROBES.md: 44% of commit time was idle waiting on that pool).
 */
import { bytesEqual } from "@kalandra/proto";
import type { Hash, HashAlgorithm, Kdf, KdfAlgorithm } from "ts-mls";
import { digest, type HashName, hmac } from "#platform/hash";

export type NodeHashName = HashName;

export function nodeHashName(h: HashAlgorithm | KdfAlgorithm): NodeHashName {
  switch (h) {
    case "SHA-256":
    case "HKDF-SHA256":
      return "sha256";
    case "SHA-384":
    case "HKDF-SHA384":
      return "sha384";
    case "SHA-512":
    case "HKDF-SHA512":
      return "sha512";
  }
}

export function hashLength(h: NodeHashName): number {
  return h === "sha256" ? 32 : h === "sha384" ? 48 : 64;
}

export function digestSync(h: NodeHashName, data: Uint8Array): Uint8Array {
  return digest(h, data);
}

export function hmacSync(h: NodeHashName, key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(h, key, data);
}

/** HKDF-Extract (RFC 5869 §2.2). An empty salt is HMAC's zero key, as the RFC requires. */
export function hkdfExtract(h: NodeHashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSync(h, salt, ikm);
}

/** HKDF-Expand (RFC 5869 §2.3): T(i) = HMAC(PRK, T(i-1) | info | i), L <= 255 * HashLen. */
export function hkdfExpand(
  h: NodeHashName,
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const hl = hashLength(h);
  if (!Number.isInteger(length) || length < 0 || length > 255 * hl) {
    throw new RangeError(`"length" expected an integer in [0, ${255 * hl}], got ${length}`);
  }
  const out = new Uint8Array(length);
  let prev: Uint8Array = new Uint8Array(0);
  const counter = new Uint8Array(1);
  for (let i = 0, off = 0; off < length; i++) {
    counter[0] = i + 1;
    prev = hmac(h, prk, prev, info, counter);
    out.set(prev.subarray(0, Math.min(hl, length - off)), off);
    off += hl;
  }
  return out;
}

export function makeHash(alg: HashAlgorithm): Hash {
  const h = nodeHashName(alg);
  return {
    digest: async (data) => digestSync(h, data),
    mac: async (key, data) => hmacSync(h, key, data),
    async verifyMac(key, mac, data) {
      // bytesEqual's time depends only on the lengths (a MAC check must not leak more).
      return bytesEqual(mac, hmac(h, key, data));
    },
  };
}

export function makeKdf(alg: KdfAlgorithm): Kdf {
  const h = nodeHashName(alg);
  return {
    extract: async (salt, ikm) => hkdfExtract(h, salt, ikm),
    expand: async (prk, info, len) => hkdfExpand(h, prk, info, len),
    size: hashLength(h),
  };
}
