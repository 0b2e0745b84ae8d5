import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  hkdfSha256,
  hmacSha256,
  xchachaOpen,
  xchachaSeal,
} from "../../src/senderkeys/primitives.js";
import { fcSeed } from "./helpers.js";

const seed = fcSeed("primitives");
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

describe("ratchet primitives agree with @noble", () => {
  it("XChaCha20-Poly1305 matches the draft-irtf-cfrg-xchacha-03 §A.3.1 test vector", () => {
    const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ""), "hex"));
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const ad = hex("50515253c0c1c2c3c4c5c6c7");
    const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
    const ct = xchachaSeal(key, nonce, ad, pt);
    expect(Buffer.from(ct.subarray(ct.length - 16)).toString("hex")).toBe(
      "c0875924c1c7987947deafd8780acf49",
    );
    expect(Buffer.from(ct.subarray(0, 16)).toString("hex")).toBe(
      "bd6d179d3e83d43b9576579493c0e939",
    );
    expect(xchachaOpen(key, nonce, ad, ct)).toEqual(pt);
  });

  it("seal/open equal noble's xchacha20poly1305 on random inputs; tampering fails", () => {
    fc.assert(
      fc.property(
        bytes(32),
        bytes(24),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        (k, n, ad, pt) => {
          const ours = xchachaSeal(k, n, ad, pt);
          expect(ours).toEqual(xchacha20poly1305(k, n, ad).encrypt(pt));
          expect(xchachaOpen(k, n, ad, ours)).toEqual(pt);
          const bad = ours.slice();
          bad[0] = (bad[0] as number) ^ 0x80;
          expect(xchachaOpen(k, n, ad, bad)).toBeUndefined();
          expect(xchachaOpen(k, n, ad, ours.subarray(0, 15))).toBeUndefined();
        },
      ),
      { seed, numRuns: 200 },
    );
    expect(() =>
      xchachaSeal(new Uint8Array(31), new Uint8Array(24), new Uint8Array(0), new Uint8Array(0)),
    ).toThrow(/key/);
    expect(() =>
      xchachaOpen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0), new Uint8Array(16)),
    ).toThrow(/nonce/);
  });

  it("HKDF and HMAC equal @noble/hashes", () => {
    fc.assert(
      fc.property(
        bytes(32),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        (ikm, salt, info) => {
          expect(hkdfSha256(ikm, salt, info, 32)).toEqual(hkdf(sha256, ikm, salt, info, 32));
          expect(hkdfSha256(ikm, salt, info, 77)).toEqual(hkdf(sha256, ikm, salt, info, 77));
          expect(hmacSha256(ikm, info)).toEqual(hmac(sha256, ikm, info));
        },
      ),
      { seed, numRuns: 200 },
    );
    expect(hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 0)).toEqual(
      new Uint8Array(0),
    );
    expect(() =>
      hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 255 * 32 + 1),
    ).toThrow(/length/);
  });
});
