/**
 * Differential test: the node:crypto provider against ts-mls's default provider on
 * many random inputs. Deterministic operations must give identical bytes; randomized
 * ones (HPKE) must interoperate in both directions.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bothImpls, fcSeed, SUITES } from "./providers.js";

const bytes = (max = 512) => fc.uint8Array({ minLength: 0, maxLength: max });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const NUM_RUNS = Number(process.env.FC_RUNS ?? 150);

describe.each(SUITES)("%s", (suite) => {
  it("hash digest, mac and verifyMac agree", async () => {
    const { ours, theirs } = await bothImpls(suite);
    await fc.assert(
      // WebCrypto refuses zero-length HMAC keys; MLS never uses one.
      fc.asyncProperty(
        bytes(2048),
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        async (data, key) => {
          expect(await ours.hash.digest(data)).toEqual(await theirs.hash.digest(data));
          const mac = await ours.hash.mac(key, data);
          expect(mac).toEqual(await theirs.hash.mac(key, data));
          expect(await ours.hash.verifyMac(key, mac, data)).toBe(true);
          expect(await theirs.hash.verifyMac(key, mac, data)).toBe(true);
          const bad = mac.slice();
          bad[0] = bad[0]! ^ 1;
          expect(await ours.hash.verifyMac(key, bad, data)).toBe(false);
          expect(await ours.hash.verifyMac(key, mac.subarray(1), data)).toBe(false);
        },
      ),
      { numRuns: NUM_RUNS, seed: fcSeed(`${suite} hash`) },
    );
  });

  it("HKDF extract and expand agree", async () => {
    const { ours, theirs } = await bothImpls(suite);
    expect(ours.kdf.size).toBe(theirs.kdf.size);
    // The default provider only takes an empty or hash-sized salt (all MLS uses).
    const salts = fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc.uint8Array({ minLength: ours.kdf.size, maxLength: ours.kdf.size }),
    );
    await fc.assert(
      fc.asyncProperty(
        salts,
        bytes(128),
        bytes(128),
        fc.integer({ min: 0, max: 300 }),
        async (salt, ikm, info, len) => {
          const prk = await ours.kdf.extract(salt, ikm);
          expect(prk).toEqual(await theirs.kdf.extract(salt, ikm));
          // The default provider rejects a zero length; compare the rest.
          if (len > 0)
            expect(await ours.kdf.expand(prk, info, len)).toEqual(
              await theirs.kdf.expand(prk, info, len),
            );
        },
      ),
      { numRuns: NUM_RUNS, seed: fcSeed(`${suite} kdf`) },
    );
  });

  it("AEAD with a given nonce gives identical ciphertexts and opens across", async () => {
    const { ours, theirs } = await bothImpls(suite);
    expect(ours.hpke.keyLength).toBe(theirs.hpke.keyLength);
    expect(ours.hpke.nonceLength).toBe(theirs.hpke.nonceLength);
    const key = fc.uint8Array({ minLength: ours.hpke.keyLength, maxLength: ours.hpke.keyLength });
    const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(
        key,
        nonce,
        fc.option(bytes(64), { nil: undefined }),
        bytes(1024),
        async (k, n, aad, pt) => {
          const ct = await ours.hpke.encryptAead(k, n, aad, pt);
          expect(ct).toEqual(await theirs.hpke.encryptAead(k, n, aad, pt));
          expect(await theirs.hpke.decryptAead(k, n, aad, ct)).toEqual(pt);
          expect(await ours.hpke.decryptAead(k, n, aad, ct)).toEqual(pt);
          const tampered = ct.slice();
          tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 0x80;
          await expect(ours.hpke.decryptAead(k, n, aad, tampered)).rejects.toThrow();
        },
      ),
      { numRuns: NUM_RUNS, seed: fcSeed(`${suite} aead`) },
    );
  });

  it("signatures are identical for the same key and verify across", async () => {
    const { ours, theirs } = await bothImpls(suite);
    const theirKeys = await theirs.signature.keygen();
    const ourKeys = await ours.signature.keygen();
    await fc.assert(
      fc.asyncProperty(bytes(1024), async (msg) => {
        for (const keys of [theirKeys, ourKeys]) {
          const sig = await ours.signature.sign(keys.signKey, msg);
          expect(sig).toEqual(await theirs.signature.sign(keys.signKey, msg));
          expect(await theirs.signature.verify(keys.publicKey, msg, sig)).toBe(true);
          expect(await ours.signature.verify(keys.publicKey, msg, sig)).toBe(true);
          const other = Uint8Array.from([...msg, 0]);
          expect(await ours.signature.verify(keys.publicKey, other, sig)).toBe(false);
        }
      }),
      { numRuns: Math.ceil(NUM_RUNS / 3), seed: fcSeed(`${suite} signature`) },
    );
  });

  it("HPKE: derived key pairs are identical; seal/open and export/import work across", async () => {
    const { ours, theirs } = await bothImpls(suite);
    await fc.assert(
      fc.asyncProperty(key32, bytes(64), bytes(64), bytes(256), async (ikm, info, aad, pt) => {
        const a = await ours.hpke.deriveKeyPair(ikm);
        const b = await theirs.hpke.deriveKeyPair(ikm);
        const skBytes = await ours.hpke.exportPrivateKey(a.privateKey);
        const pkBytes = await ours.hpke.exportPublicKey(a.publicKey);
        expect(skBytes).toEqual(await theirs.hpke.exportPrivateKey(b.privateKey));
        expect(pkBytes).toEqual(await theirs.hpke.exportPublicKey(b.publicKey));

        // theirs seals to our key bytes, we open; and the reverse.
        const theirPk = await theirs.hpke.importPublicKey(pkBytes);
        const ourSk = await ours.hpke.importPrivateKey(skBytes);
        const s1 = await theirs.hpke.seal(theirPk, pt, info, aad);
        expect(await ours.hpke.open(ourSk, s1.enc, s1.ct, info, aad)).toEqual(pt);
        const ourPk = await ours.hpke.importPublicKey(pkBytes);
        const theirSk = await theirs.hpke.importPrivateKey(skBytes);
        const s2 = await ours.hpke.seal(ourPk, pt, info, aad);
        expect(await theirs.hpke.open(theirSk, s2.enc, s2.ct, info, aad)).toEqual(pt);
        // Wrong info fails to open.
        await expect(
          ours.hpke.open(ourSk, s1.enc, s1.ct, Uint8Array.from([...info, 1]), aad),
        ).rejects.toThrow();

        const ctx = aad;
        const e1 = await ours.hpke.exportSecret(ourPk, ctx, 32, info);
        expect(await theirs.hpke.importSecret(theirSk, ctx, e1.enc, 32, info)).toEqual(e1.secret);
        const e2 = await theirs.hpke.exportSecret(theirPk, ctx, 32, info);
        expect(await ours.hpke.importSecret(ourSk, ctx, e2.enc, 32, info)).toEqual(e2.secret);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 3), seed: fcSeed(`${suite} hpke`) },
    );
  });

  it("HPKE with a Welcome's large info: the same, an equal and a different info in turn", async () => {
    // Ours keeps the info_hash of the last large info (hpke.ts): a different info of the same
    // length must never reuse it, on either side.
    const { ours, theirs } = await bothImpls(suite);
    const { privateKey, publicKey } = await ours.hpke.deriveKeyPair(new Uint8Array(32).fill(7));
    const pkBytes = await ours.hpke.exportPublicKey(publicKey);
    const skBytes = await ours.hpke.exportPrivateKey(privateKey);
    const theirSk = await theirs.hpke.importPrivateKey(skBytes);
    const a = new Uint8Array(200_000).fill(1);
    const b = a.slice();
    b[123_456] = 2;
    const pt = new Uint8Array([1, 2, 3]);
    for (const info of [a, a.slice(), b, a, b.slice()]) {
      const other = info[123_456] === 1 ? b : a;
      const ourPk = await ours.hpke.importPublicKey(pkBytes);
      const sealed = await ours.hpke.seal(ourPk, pt, info, undefined);
      expect(await theirs.hpke.open(theirSk, sealed.enc, sealed.ct, info, undefined)).toEqual(pt);
      await expect(
        theirs.hpke.open(theirSk, sealed.enc, sealed.ct, other, undefined),
      ).rejects.toThrow();
      await expect(
        ours.hpke.open(privateKey, sealed.enc, sealed.ct, other, undefined),
      ).rejects.toThrow();
      expect(await ours.hpke.open(privateKey, sealed.enc, sealed.ct, info, undefined)).toEqual(pt);
    }
  });

  it("HPKE: generated key pairs interoperate", async () => {
    const { ours, theirs } = await bothImpls(suite);
    for (const [gen, other] of [
      [ours, theirs],
      [theirs, ours],
    ] as const) {
      const kp = await gen.hpke.generateKeyPair();
      const sk = await gen.hpke.exportPrivateKey(kp.privateKey);
      const pk = await gen.hpke.exportPublicKey(kp.publicKey);
      const sealed = await other.hpke.seal(
        await other.hpke.importPublicKey(pk),
        Uint8Array.of(1, 2, 3),
        new Uint8Array(0),
      );
      const opened = await gen.hpke.open(
        await gen.hpke.importPrivateKey(sk),
        sealed.enc,
        sealed.ct,
        new Uint8Array(0),
      );
      expect(opened).toEqual(Uint8Array.of(1, 2, 3));
      // Our import of their private key yields the same public key.
      const re = await other.hpke.importPrivateKey(sk);
      expect(re).toBeDefined();
    }
  });
});
