/**
 * The web platform (`src/platform/web`: @noble, synchronous) held to the Node platform's
 * answers (`src/platform/node`: node:crypto) on random inputs: deterministic operations
 * give identical bytes, and what one side seals the other opens. Vitest runs under Node,
 * so the package resolves `#platform/*` to the Node variants.
 */

import { ED25519_PKCS8_PREFIX, ed25519PublicKey } from "@kalandra/proto";
import { p256 as nobleP256 } from "@noble/curves/nist.js";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import * as nodeAead from "../../src/platform/node/aead.js";
import * as nodeBytes from "../../src/platform/node/bytes.js";
import * as nodeEcdh from "../../src/platform/node/ecdh.js";
import * as nodeHash from "../../src/platform/node/hash.js";
import * as nodeSigning from "../../src/platform/node/signing.js";
import * as webAead from "../../src/platform/web/aead.js";
import * as webBytes from "../../src/platform/web/bytes.js";
import * as webEcdh from "../../src/platform/web/ecdh.js";
import * as webHash from "../../src/platform/web/hash.js";
import * as webSigning from "../../src/platform/web/signing.js";
import { fcSeed } from "../crypto/providers.js";

// Both variants offer the same functions with the same types (a compile-time check).
const sameApi = <T>(_node: T, _web: T) => true;
sameApi<typeof nodeAead>(nodeAead, webAead);
sameApi<typeof nodeBytes>(nodeBytes, webBytes);
sameApi<typeof nodeEcdh>(nodeEcdh, webEcdh);
sameApi<typeof nodeHash>(nodeHash, webHash);
sameApi<typeof nodeSigning>(nodeSigning, webSigning);

const RUNS = Number(process.env.FC_RUNS ?? 100);
const params = (label: string) => ({ numRuns: RUNS, seed: fcSeed(`platform ${label}`) });
const bytes = (max = 300) => fc.uint8Array({ maxLength: max });
const exact = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const flip = (b: Uint8Array, at: number) => {
  const out = b.slice();
  out[at % out.length] = (out[at % out.length] as number) ^ 1;
  return out;
};

describe("hash and HMAC", () => {
  it.each(["sha256", "sha384", "sha512"] as const)("%s agrees", (h) => {
    fc.assert(
      fc.property(bytes(1000), bytes(200), fc.array(bytes(50), { maxLength: 3 }), (d, k, parts) => {
        expect(webHash.digest(h, d)).toEqual(nodeHash.digest(h, d));
        expect(webHash.hmac(h, k, ...parts)).toEqual(nodeHash.hmac(h, k, ...parts));
      }),
      params(h),
    );
  });
});

describe("AEAD", () => {
  const ciphers: Array<[nodeAead.AeadName, number]> = [
    ["aes-128-gcm", 16],
    ["aes-256-gcm", 32],
    ["chacha20-poly1305", 32],
  ];
  it.each(ciphers)("%s: identical ciphertexts, opened across, tampering refused", (name, kl) => {
    fc.assert(
      fc.property(exact(kl), exact(12), bytes(64), bytes(500), fc.nat(), (k, n, aad, pt, at) => {
        const ct = nodeAead.aeadSeal(name, k, n, aad, pt);
        expect(webAead.aeadSeal(name, k, n, aad, pt)).toEqual(ct);
        expect(webAead.aeadOpen(name, k, n, aad, ct)).toEqual(pt);
        expect(nodeAead.aeadOpen(name, k, n, aad, ct)).toEqual(pt);
        for (const impl of [nodeAead, webAead]) {
          expect(impl.aeadOpen(name, k, n, aad, flip(ct, at))).toBeUndefined();
          expect(impl.aeadOpen(name, k, n, flip(Uint8Array.of(...aad, 0), at), ct)).toBeUndefined();
          expect(impl.aeadOpen(name, k, n, aad, ct.subarray(0, 15))).toBeUndefined();
        }
      }),
      params(name),
    );
  });
});

describe("Diffie-Hellman", () => {
  it("X25519: same public keys, same shared secrets across", () => {
    fc.assert(
      fc.property(exact(32), exact(32), (a, b) => {
        const na = nodeEcdh.x25519PrivateKey(a);
        const wa = webEcdh.x25519PrivateKey(a);
        expect(wa.publicBytes).toEqual(na.publicBytes);
        const nb = nodeEcdh.x25519PrivateKey(b);
        const secret = nodeEcdh.x25519(na.handle, nodeEcdh.x25519PublicKey(nb.publicBytes));
        expect(webEcdh.x25519(wa.handle, webEcdh.x25519PublicKey(nb.publicBytes))).toEqual(secret);
        const wb = webEcdh.x25519PrivateKey(b);
        expect(webEcdh.x25519(wb.handle, webEcdh.x25519PublicKey(wa.publicBytes))).toEqual(secret);
      }),
      params("x25519"),
    );
  });

  it("X25519: both refuse a small-order point (the all-zero secret) or a wrong length", () => {
    const sk = new Uint8Array(32).fill(9);
    const zeroPoint = new Uint8Array(32); // order 1: every shared secret is zero
    for (const impl of [nodeEcdh, webEcdh]) {
      const own = impl.x25519PrivateKey(sk).handle;
      expect(() => impl.x25519(own, impl.x25519PublicKey(zeroPoint))).toThrow();
    }
    for (const impl of [nodeEcdh, webEcdh]) {
      expect(() => impl.x25519PublicKey(new Uint8Array(31))).toThrow();
    }
  });

  it("P-256: same public keys, same shared x-coordinates across; off-curve points refused", () => {
    const scalar = exact(32).filter((s) => nobleP256.utils.isValidSecretKey(s));
    fc.assert(
      fc.property(scalar, scalar, (a, b) => {
        const na = nodeEcdh.p256PrivateKey(a);
        const wa = webEcdh.p256PrivateKey(a);
        expect(wa.publicBytes).toEqual(na.publicBytes);
        const pb = nodeEcdh.p256PrivateKey(b).publicBytes;
        const secret = nodeEcdh.p256(na.handle, nodeEcdh.p256PublicKey(pb));
        expect(secret.length).toBe(32);
        expect(webEcdh.p256(wa.handle, webEcdh.p256PublicKey(pb))).toEqual(secret);
        const off = pb.slice();
        off[64] = (off[64] as number) ^ 1;
        expect(() => nodeEcdh.p256PublicKey(off)).toThrow();
        expect(() => webEcdh.p256PublicKey(off)).toThrow();
      }),
      params("p256"),
    );
  });
});

describe("signing keys", () => {
  const pkcs8 = (seed: Uint8Array) => Uint8Array.of(...ED25519_PKCS8_PREFIX, ...seed);

  /** Ed25519 through each platform: sign from a seed and from PKCS#8, verify tampering. */
  async function ed25519Agree(seed: Uint8Array, msg: Uint8Array, at: number) {
    const sig = await nodeSigning.ed25519Sign(nodeSigning.ed25519SigningKey(seed), msg);
    const pk = ed25519PublicKey(seed);
    for (const impl of [nodeSigning, webSigning]) {
      expect(await impl.ed25519Sign(impl.ed25519SigningKey(seed), msg)).toEqual(sig);
      expect(await impl.ed25519Sign(impl.ed25519SigningKey(pkcs8(seed)), msg)).toEqual(sig);
      const key = impl.ed25519VerifyingKey(pk);
      expect(await impl.ed25519Verify(key, msg, sig)).toBe(true);
      expect(await impl.ed25519Verify(key, msg, flip(sig, at))).toBe(false);
      expect(await impl.ed25519Verify(key, Uint8Array.of(...msg, 1), sig)).toBe(false);
      expect(await impl.ed25519Verify(key, msg, sig.subarray(1))).toBe(false);
      const notAKey = impl.ed25519VerifyingKey(flip(pk, at));
      expect(await impl.ed25519Verify(notAKey, msg, sig)).toBe(false);
    }
  }

  it("Ed25519 (WebCrypto in the web variant): identical signatures, the same verdicts", async () => {
    await fc.assert(
      fc.asyncProperty(exact(32), bytes(), fc.nat(), ed25519Agree),
      params("ed25519"),
    );
    for (const impl of [nodeSigning, webSigning]) {
      expect(() => impl.ed25519SigningKey(new Uint8Array(40))).toThrow();
      expect(() => impl.ed25519SigningKey(new Uint8Array(48))).toThrow(); // not PKCS#8
      expect(() => impl.ed25519VerifyingKey(new Uint8Array(31))).toThrow();
    }
  });

  it("Ed25519 without WebCrypto's Ed25519: the web variant falls back to @noble", async () => {
    const real = globalThis.crypto;
    vi.stubGlobal("crypto", { getRandomValues: real.getRandomValues.bind(real) });
    try {
      await fc.assert(
        fc.asyncProperty(exact(32), bytes(), fc.nat(), ed25519Agree),
        params("ed25519 fallback"),
      );
    } finally {
      vi.unstubAllGlobals();
    }
    expect(globalThis.crypto).toBe(real);
  });

  it("P-256 verification agrees on valid, tampered and malformed signatures", () => {
    const scalar = exact(32).filter((s) => nobleP256.utils.isValidSecretKey(s));
    fc.assert(
      fc.property(scalar, bytes(), fc.nat(), fc.boolean(), (sk, msg, at, compressed) => {
        const pk = nobleP256.getPublicKey(sk, compressed);
        const sig = nobleP256.sign(msg, sk, { prehash: true, format: "der", lowS: false });
        const nk = nodeSigning.p256VerifyingKey(pk);
        const wk = webSigning.p256VerifyingKey(pk);
        for (const [s, m] of [
          [sig, msg],
          [flip(sig, at), msg],
          [sig, flip(Uint8Array.of(...msg, 1), at)],
          [sig.subarray(0, 8), msg],
        ] as const) {
          const expected = nodeSigning.p256Verify(nk, m, s);
          expect(webSigning.p256Verify(wk, m, s)).toBe(expected);
        }
        expect(webSigning.p256Verify(wk, msg, sig)).toBe(true);
      }),
      params("p256 verify"),
    );
    for (const impl of [nodeSigning, webSigning]) {
      expect(() => impl.p256VerifyingKey(new Uint8Array(64))).toThrow();
    }
  });
});

describe("cache keys", () => {
  it("bytesKey is the same string on both, distinct for distinct bytes", () => {
    fc.assert(
      fc.property(bytes(10_000), bytes(40), (a, b) => {
        expect(webBytes.bytesKey(a)).toBe(nodeBytes.bytesKey(a));
        const same = a.length === b.length && a.every((x, i) => x === b[i]);
        expect(webBytes.bytesKey(a) === webBytes.bytesKey(b)).toBe(same);
      }),
      params("bytesKey"),
    );
  });
});
