/**
 * The two platforms of `#platform/*` (package.json "imports": node:crypto and Buffer in
 * Node, @noble and web APIs in browsers) give the same answers: the web variants are
 * held to the Node ones on random inputs, and each keeps the contract the package
 * documents (strict Ed25519, well-formed UTF-8). Vitest runs under Node, so the package
 * itself resolves to the Node variants (checked first).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as facade from "../src/ed25519.js";
import * as nodeBytes from "../src/platform/node/bytes.js";
import * as nodeEd from "../src/platform/node/ed25519.js";
import * as nodeRandom from "../src/platform/node/random.js";
import * as nodeSha from "../src/platform/node/sha256.js";
import * as webBytes from "../src/platform/web/bytes.js";
import * as webEd from "../src/platform/web/ed25519.js";
import * as webRandom from "../src/platform/web/random.js";
import * as webSha from "../src/platform/web/sha256.js";
import { fcParams } from "./helpers.js";

// Both variants offer the same functions with the same types (a compile-time check).
const sameApi = <T>(_node: T, _web: T) => true;
sameApi<Pick<typeof nodeEd, keyof typeof webEd>>(nodeEd, webEd);
sameApi<typeof nodeBytes>(nodeBytes, webBytes);
sameApi<typeof nodeSha>(nodeSha, webSha);
sameApi<typeof nodeRandom>(nodeRandom, webRandom);

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ maxLength: 600 });
const verifyAsync = (
  v: typeof nodeEd.ed25519VerifyAsync,
  ...args: [Uint8Array, Uint8Array, Uint8Array]
) => new Promise<boolean>((resolve) => v(...args, resolve));

describe("#platform/* under Node", () => {
  it("resolves to the node:crypto variant", () => {
    expect(facade.ed25519Verify).toBe(nodeEd.ed25519Verify);
    expect(facade.createDeviceSigner).toBe(nodeEd.createDeviceSigner);
  });
});

describe("Ed25519: @noble (web) against node:crypto", () => {
  it("same seed, same public key and same signature; each verifies the other's", () => {
    fc.assert(
      fc.property(key32, message, (seed, msg) => {
        const n = nodeEd.createDeviceSigner(seed);
        const w = webEd.createDeviceSigner(seed);
        expect(w.publicKey).toEqual(n.publicKey);
        expect(webEd.ed25519PublicKey(seed)).toEqual(nodeEd.ed25519PublicKey(seed));
        const sig = n.sign(msg);
        expect(w.sign(msg)).toEqual(sig);
        expect(webEd.ed25519Verify(n.publicKey, msg, sig)).toBe(true);
        expect(nodeEd.ed25519Verify(w.publicKey, msg, w.sign(msg))).toBe(true);
      }),
      fcParams(100),
    );
  });

  it("agree on rejecting: flipped bits, wrong lengths, keys that are not points", async () => {
    const flip = fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) });
    await fc.assert(
      fc.asyncProperty(key32, message, flip, key32, async (seed, msg, f, junkKey) => {
        const s = nodeEd.createDeviceSigner(seed);
        const sig = s.sign(msg);
        const badSig = sig.slice();
        badSig[f.at % 64] = (badSig[f.at % 64] as number) ^ (1 << f.bit);
        const badKey = s.publicKey.slice();
        badKey[f.at % 32] = (badKey[f.at % 32] as number) ^ (1 << f.bit);
        const cases: Array<[Uint8Array, Uint8Array, Uint8Array]> = [
          [s.publicKey, msg, badSig],
          [badKey, msg, sig],
          [junkKey, msg, sig],
          [s.publicKey, msg, sig.subarray(1)],
          [s.publicKey.subarray(1), msg, sig],
        ];
        for (const c of cases) {
          const expected = nodeEd.ed25519Verify(...c);
          expect(webEd.ed25519Verify(...c)).toBe(expected);
          expect(await verifyAsync(webEd.ed25519VerifyAsync, ...c)).toBe(expected);
        }
        expect(webEd.ed25519Verify(s.publicKey, msg, badSig)).toBe(false);
      }),
      fcParams(100),
    );
  });

  it("refuse a seed that is not 32 bytes with the same TypeError", () => {
    for (const impl of [nodeEd, webEd]) {
      expect(() => impl.createDeviceSigner(new Uint8Array(31))).toThrow(TypeError);
      expect(() => impl.ed25519PublicKey(new Uint8Array(33))).toThrow(TypeError);
      const s = impl.createDeviceSigner(new Uint8Array(32));
      expect(() => s.sign("x" as unknown as Uint8Array)).toThrow(TypeError);
    }
  });

  it("verifies asynchronously, never before returning", async () => {
    const s = webEd.createDeviceSigner(new Uint8Array(32).fill(1));
    const msg = Uint8Array.of(1, 2, 3);
    let called = false;
    const done = new Promise<boolean>((resolve) =>
      webEd.ed25519VerifyAsync(s.publicKey, msg, s.sign(msg), (ok) => {
        called = true;
        resolve(ok);
      }),
    );
    expect(called).toBe(false);
    expect(await done).toBe(true);
  });
});

describe("SHA-256, hex and UTF-8: web against Node", () => {
  it("SHA-256 of split input and hex agree", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 4 }), (parts) => {
        const d = nodeSha.sha256(...parts);
        expect(webSha.sha256(...parts)).toEqual(d);
        expect(webBytes.toHex(d)).toBe(nodeBytes.toHex(d));
        const joined = parts.flatMap((p) => [...p]);
        expect(webBytes.toHex(Uint8Array.from(joined))).toBe(
          nodeBytes.toHex(Uint8Array.from(joined)),
        );
      }),
      fcParams(200),
    );
  });

  it("isUtf8 agrees on random bytes, valid text and the classic malformed sequences", () => {
    const nearUtf8 = fc.oneof(
      message,
      fc.string({ unit: "binary", maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
      fc
        .array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 8 })
        .map((a) => Uint8Array.from(a)),
    );
    fc.assert(
      fc.property(nearUtf8, (b) => {
        expect(webBytes.isUtf8(b)).toBe(nodeBytes.isUtf8(b));
      }),
      fcParams(500),
    );
    const malformed = [
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0xe2, 0x82], // truncated
      [0xff],
    ];
    for (const m of malformed) {
      expect(webBytes.isUtf8(Uint8Array.from(m))).toBe(false);
      expect(nodeBytes.isUtf8(Uint8Array.from(m))).toBe(false);
    }
  });
});

describe("random bytes", () => {
  it("both fill the whole array, beyond getRandomValues' 65,536-byte limit", () => {
    for (const impl of [nodeRandom, webRandom]) {
      const out = impl.fillRandom(new Uint8Array(70_000));
      expect(out.length).toBe(70_000);
      // The last 4 KiB all zero has probability 2^-32768: the tail was filled.
      expect(out.subarray(-4096).some((b) => b !== 0)).toBe(true);
      expect(impl.fillRandom(new Uint8Array(0)).length).toBe(0);
    }
  });
});
