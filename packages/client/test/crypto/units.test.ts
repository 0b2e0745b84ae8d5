/**
 * Edge cases of the provider's modules: input checks, error paths, the key cache, the
 * DER fallback of the key import, provider selection.
 */
import {
  type CiphersuiteName,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  defaultCryptoProvider as tsMlsDefault,
} from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { afterEach, describe, expect, it } from "vitest";
import { makeSyncAeadFor } from "../../src/crypto/aead.js";
import { i2osp } from "../../src/crypto/bytes.js";
import { hkdfExpand } from "../../src/crypto/hash.js";
import {
  createKalandraCryptoProvider,
  defaultCryptoProvider,
  getKalandraCiphersuiteImpl,
  makeKalandraCiphersuiteImpl,
  toMlsRng,
} from "../../src/crypto/index.js";
import { KeyCache } from "../../src/crypto/keyCache.js";
import {
  okpPrivateKey,
  okpPublicBytes,
  okpSpki,
  setJwkPrivateImportForTests,
} from "../../src/platform/node/okp.js";
import { seededRng } from "./mlsFixtures.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

describe("KeyCache", () => {
  it("keeps at most `capacity` entries, evicting the least recently used", () => {
    const c = new KeyCache<number>(2);
    let made = 0;
    const get = (k: number) => c.getOrCreate(Uint8Array.of(k), () => ++made);
    expect(get(1)).toBe(1);
    expect(get(2)).toBe(2);
    expect(get(1)).toBe(1); // hit, refreshes 1
    expect(get(3)).toBe(3); // evicts 2
    expect(c.size).toBe(2);
    expect(get(1)).toBe(1);
    expect(get(2)).toBe(4); // was evicted: made again
    c.clear();
    expect(c.size).toBe(0);
    expect(() => new KeyCache(0)).toThrow(RangeError);
  });

  it("with secretKeys, distinguishes keys by their hash and behaves the same", () => {
    const c = new KeyCache<string>(4, { secretKeys: true });
    expect(c.getOrCreate(Uint8Array.of(1, 2), () => "a")).toBe("a");
    expect(c.getOrCreate(Uint8Array.of(1, 2), () => "b")).toBe("a");
    expect(c.getOrCreate(Uint8Array.of(2, 1), () => "c")).toBe("c");
    expect(c.size).toBe(2);
  });
});

describe("AEAD input checks", () => {
  const aead = makeSyncAeadFor("AES128GCM");
  const key = new Uint8Array(16);
  const nonce = new Uint8Array(12);
  it("rejects wrong key and nonce lengths and short ciphertexts with CryptoError", () => {
    expect(() =>
      aead.seal(new Uint8Array(15), nonce, new Uint8Array(0), new Uint8Array(1)),
    ).toThrow(CryptoError);
    expect(() => aead.seal(key, new Uint8Array(11), new Uint8Array(0), new Uint8Array(1))).toThrow(
      /nonce/,
    );
    expect(() => aead.open(key, nonce, new Uint8Array(0), new Uint8Array(15))).toThrow(CryptoError);
  });
  it("AES-256-GCM and ChaCha20-Poly1305 round-trip and reject a wrong AAD", () => {
    for (const alg of ["AES256GCM", "CHACHA20POLY1305"] as const) {
      const a = makeSyncAeadFor(alg);
      const k = new Uint8Array(32).fill(3);
      const ct = a.seal(k, nonce, Uint8Array.of(1), Uint8Array.of(9, 9));
      expect(a.open(k, nonce, Uint8Array.of(1), ct)).toEqual(Uint8Array.of(9, 9));
      expect(() => a.open(k, nonce, Uint8Array.of(2), ct)).toThrow(CryptoError);
    }
  });
});

describe("HKDF and byte helpers", () => {
  it("RFC 5869 A.1", () => {
    const prk = hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    const okm = hkdfExpand("sha256", prk, hex("f0f1f2f3f4f5f6f7f8f9"), 42);
    expect(Buffer.from(okm).toString("hex")).toBe(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
    expect(() => hkdfExpand("sha256", prk, new Uint8Array(0), 255 * 32 + 1)).toThrow(RangeError);
  });
  it("i2osp is big-endian", () => {
    expect(i2osp(0x0102, 2)).toEqual(Uint8Array.of(1, 2));
    expect(i2osp(5, 1)).toEqual(Uint8Array.of(5));
  });
});

describe("OKP key import", () => {
  afterEach(() => setJwkPrivateImportForTests(undefined));
  it("the DER fallback gives the same keys as the JWK path", () => {
    const seed = new Uint8Array(32).fill(0x42);
    for (const crv of ["X25519", "Ed25519"] as const) {
      setJwkPrivateImportForTests(true);
      const viaJwk = okpPublicBytes(okpPrivateKey(crv, seed));
      setJwkPrivateImportForTests(false);
      const viaDer = okpPublicBytes(okpPrivateKey(crv, seed));
      expect(viaDer).toEqual(viaJwk);
      expect(okpSpki(crv, viaDer).subarray(-32)).toEqual(Buffer.from(viaDer));
    }
    setJwkPrivateImportForTests(undefined);
    // RFC 7748 §6.1 (Bob) through the self-checked default path.
    expect(
      okpPublicBytes(
        okpPrivateKey(
          "X25519",
          hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
        ),
      ),
    ).toEqual(hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  });
});

describe("HPKE and signature error paths", () => {
  it("rejects malformed and foreign keys, small-order points and tampered ciphertexts", async () => {
    const cs = getKalandraCiphersuiteImpl(seededRng("errors"));
    await expect(cs.hpke.importPublicKey(new Uint8Array(31))).rejects.toThrow(CryptoError);
    await expect(cs.hpke.importPrivateKey(new Uint8Array(33))).rejects.toThrow(CryptoError);
    const kp = await cs.hpke.generateKeyPair();
    // A key object from another provider is refused.
    const theirs = await getCiphersuiteImpl(
      getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"),
      tsMlsDefault,
    );
    const foreign = (await theirs.hpke.generateKeyPair()).publicKey;
    await expect(cs.hpke.seal(foreign, Uint8Array.of(1), new Uint8Array(0))).rejects.toThrow(
      /not made by this provider/,
    );
    await expect(
      cs.hpke.open(foreign as never, new Uint8Array(32), new Uint8Array(20), new Uint8Array(0)),
    ).rejects.toThrow(/not made by this provider/);
    // enc = the all-zero point has small order: X25519 gives zero, which must be refused.
    await expect(
      cs.hpke.open(kp.privateKey, new Uint8Array(32), new Uint8Array(20), new Uint8Array(0)),
    ).rejects.toThrow(CryptoError);
    const sealed = await cs.hpke.seal(kp.publicKey, Uint8Array.of(1, 2), new Uint8Array(0));
    sealed.ct[0] = sealed.ct[0]! ^ 1;
    await expect(
      cs.hpke.open(kp.privateKey, sealed.enc, sealed.ct, new Uint8Array(0)),
    ).rejects.toThrow(CryptoError);
    // Signatures: malformed public keys and signatures verify as false, bad sign keys throw.
    const keys = await cs.signature.keygen();
    const sig = await cs.signature.sign(keys.signKey, Uint8Array.of(1));
    expect(await cs.signature.verify(new Uint8Array(31), Uint8Array.of(1), sig)).toBe(false);
    expect(await cs.signature.verify(keys.publicKey, Uint8Array.of(1), sig.subarray(1))).toBe(
      false,
    );
    await expect(cs.signature.sign(new Uint8Array(20), Uint8Array.of(1))).rejects.toThrow(
      CryptoError,
    );
  });

  it("P-256: rejects compressed, off-curve and zero keys", async () => {
    const cs = getKalandraCiphersuiteImpl(
      seededRng("p256"),
      "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    );
    await expect(cs.hpke.importPublicKey(new Uint8Array(33).fill(2))).rejects.toThrow(CryptoError);
    const offCurve = new Uint8Array(65).fill(1);
    offCurve[0] = 4;
    await expect(cs.hpke.importPublicKey(offCurve)).rejects.toThrow(CryptoError);
    await expect(cs.hpke.importPrivateKey(new Uint8Array(32))).rejects.toThrow(CryptoError);
    expect(
      await cs.signature.verify(new Uint8Array(10), Uint8Array.of(1), new Uint8Array(70)),
    ).toBe(false);
  });
});

describe("provider selection", () => {
  it("the default is ours (on every platform); unsupported suites are refused", async () => {
    const p = defaultCryptoProvider({ rng: seededRng("x") });
    const cs = await p.getCiphersuiteImpl(
      getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"),
    );
    expect(cs.rng.randomBytes(4)).toEqual(seededRng("x").bytes(4));
    const viaFactory = await createKalandraCryptoProvider().getCiphersuiteImpl(
      getCiphersuiteFromName("MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"),
    );
    expect(viaFactory.name).toBe("MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519");
    const unsupported: CiphersuiteName = "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448";
    expect(() => makeKalandraCiphersuiteImpl(getCiphersuiteFromName(unsupported))).toThrow(
      CryptoError,
    );
  });

  it("toMlsRng refuses an Rng that returns the wrong number of bytes", () => {
    const bad = toMlsRng({ bytes: (n) => new Uint8Array(n + 1) });
    expect(() => bad.randomBytes(4)).toThrow(RangeError);
  });
});
