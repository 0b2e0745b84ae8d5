/**
 * MLS signature schemes on the platform's keys (`#platform/signing`: OpenSSL in Node,
 * @noble/curves elsewhere).
 *
 * Ed25519 (suites 1 and 3): signing and verification keys imported once and cached as
 * platform handles (in Node, verification goes on through proto's one Ed25519 module,
 * whose key cache serves the frame checks too; browsers use WebCrypto where it has
 * Ed25519). Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so
 * signing draws no randomness. A signing key is accepted in the two forms ts-mls produces: the
 * raw 32-byte seed (noble, and `mlsSignatureKeysFromSeed`) or a PKCS#8 DER document
 * (the default provider's WebCrypto keygen); keys we generate are raw seeds.
 *
 * ECDSA P-256 with SHA-256 (suite 2): verification by the platform; signing by
 * @noble/curves with RFC 6979 deterministic nonces, exactly as ts-mls's default provider
 * signs (DER encoding, high S allowed), so signatures are reproducible and no nonce is
 * drawn from outside the injected Rng.
 */
import { ed25519PublicKey } from "@kalandra/proto";
import { p256 } from "@noble/curves/nist.js";
import type { Signature, SignatureAlgorithm } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import {
  ed25519Sign,
  ed25519SigningKey,
  ed25519Verify,
  ed25519VerifyingKey,
  type KeyHandle,
  p256Verify,
  p256VerifyingKey,
} from "#platform/signing";
import { KeyCache } from "./keyCache.js";
import type { Rng } from "./rng.js";

function signingKey(signKey: Uint8Array): KeyHandle {
  try {
    return ed25519SigningKey(signKey);
  } catch (e) {
    throw new CryptoError(`invalid Ed25519 signing key: ${e}`);
  }
}

export interface SignatureOptions {
  rng: Rng;
  cacheSize?: number;
}

/**
 * A verifier over cached imported public keys. Keys that fail to import are cached as
 * `null` so a flood of messages with a bad key costs one parse, and verification of them
 * simply returns false.
 */
function makeVerifier(
  cacheSize: number,
  importKey: (publicKey: Uint8Array) => KeyHandle,
  verify: (
    key: KeyHandle,
    message: Uint8Array,
    signature: Uint8Array,
  ) => boolean | Promise<boolean>,
) {
  const cache = new KeyCache<KeyHandle | null>(cacheSize);
  return async (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
    const key = cache.getOrCreate(publicKey, () => {
      try {
        return importKey(publicKey);
      } catch {
        return null;
      }
    });
    return key !== null && verify(key, message, signature);
  };
}

function makeEd25519(opts: SignatureOptions): Signature {
  const signing = new KeyCache<KeyHandle>(64, { secretKeys: true });
  const verify = makeVerifier(opts.cacheSize ?? 4096, ed25519VerifyingKey, ed25519Verify);
  return {
    async sign(signKey, message) {
      return ed25519Sign(
        signing.getOrCreate(signKey, () => signingKey(signKey)),
        message,
      );
    },
    verify,
    async keygen() {
      const signKey = opts.rng.bytes(32);
      return { signKey, publicKey: ed25519PublicKey(signKey) };
    },
  };
}

function makeP256(opts: SignatureOptions): Signature {
  const cacheSize = opts.cacheSize ?? 4096;
  const verifyP = makeVerifier(cacheSize, p256VerifyingKey, p256Verify);
  return {
    async sign(signKey, message) {
      return p256.sign(message, signKey, { prehash: true, format: "der", lowS: false });
    },
    verify: verifyP,
    async keygen() {
      for (let i = 0; i < 256; i++) {
        const signKey = opts.rng.bytes(32);
        if (p256.utils.isValidSecretKey(signKey)) {
          return { signKey, publicKey: p256.getPublicKey(signKey) };
        }
      }
      throw new CryptoError("could not draw a P-256 scalar");
    },
  };
}

export function makeSignature(alg: SignatureAlgorithm, opts: SignatureOptions): Signature {
  switch (alg) {
    case "Ed25519":
      return makeEd25519(opts);
    case "P256":
      return makeP256(opts);
    default:
      throw new CryptoError(`signature ${alg} is not supported by the Kalandra provider`);
  }
}
