/**
 * MLS signature schemes on node:crypto.
 *
 * Ed25519 (suites 1 and 3): sign with OpenSSL, signing keys imported once and cached as
 * KeyObjects; verification and public keys through proto's one Ed25519 module (its key
 * cache serves the frame checks too). Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so signing
 * draws no randomness. A signing key is accepted in the two forms ts-mls produces: the
 * raw 32-byte seed (noble, and `mlsSignatureKeysFromSeed`) or a PKCS#8 DER document
 * (the default provider's WebCrypto keygen); keys we generate are raw seeds.
 *
 * ECDSA P-256 with SHA-256 (suite 2): verification by OpenSSL; signing by
 * @noble/curves with RFC 6979 deterministic nonces, exactly as ts-mls's default provider
 * signs (DER encoding, high S allowed), so signatures are reproducible and no nonce is
 * drawn from outside the injected Rng.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { ed25519PublicKey, ed25519Verify } from "@kalandra/proto";
import { p256 } from "@noble/curves/nist.js";
import type { Signature, SignatureAlgorithm } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { concat } from "./bytes.js";
import { KeyCache } from "./keyCache.js";
import { okpPrivateKey } from "./okp.js";
import type { Rng } from "./rng.js";

const P256_SPKI_UNCOMPRESSED = Uint8Array.from(
  Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"),
);
const P256_SPKI_COMPRESSED = Uint8Array.from(
  Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex"),
);

function signingKeyObject(signKey: Uint8Array): KeyObject {
  try {
    const ko =
      signKey.length === 32
        ? okpPrivateKey("Ed25519", signKey)
        : createPrivateKey({ key: Buffer.from(signKey), format: "der", type: "pkcs8" });
    if (ko.asymmetricKeyType !== "ed25519") throw new Error(`got ${ko.asymmetricKeyType}`);
    return ko;
  } catch (e) {
    throw new CryptoError(`invalid Ed25519 signing key: ${e}`);
  }
}

export interface SignatureOptions {
  rng: Rng;
  cacheSize?: number;
}

/**
 * Public keys that fail to import are cached as `null` so a flood of messages with a
 * bad key costs one parse, and verification of them simply returns false.
 */
function makeVerifier(
  cacheSize: number,
  importKey: (pk: Uint8Array) => KeyObject,
  algorithm: string | null,
  dsaEncoding?: "der",
) {
  const cache = new KeyCache<KeyObject | null>(cacheSize);
  return (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    const key = cache.getOrCreate(publicKey, () => {
      try {
        return importKey(publicKey);
      } catch {
        return null;
      }
    });
    if (key === null) return false;
    try {
      return dsaEncoding === undefined
        ? verify(algorithm, message, key, signature)
        : verify(algorithm, message, { key, dsaEncoding }, signature);
    } catch {
      return false;
    }
  };
}

function makeEd25519(opts: SignatureOptions): Signature {
  const signing = new KeyCache<KeyObject>(64, { secretKeys: true });
  return {
    async sign(signKey, message) {
      const key = signing.getOrCreate(signKey, () => signingKeyObject(signKey));
      return Uint8Array.from(sign(null, message, key));
    },
    verify: async (publicKey, message, signature) => ed25519Verify(publicKey, message, signature),
    async keygen() {
      const signKey = opts.rng.bytes(32);
      return { signKey, publicKey: ed25519PublicKey(signKey) };
    },
  };
}

function makeP256(opts: SignatureOptions): Signature {
  const cacheSize = opts.cacheSize ?? 4096;
  const verifyP = makeVerifier(
    cacheSize,
    (pk) => {
      const prefix =
        pk.length === 65 ? P256_SPKI_UNCOMPRESSED : pk.length === 33 ? P256_SPKI_COMPRESSED : null;
      if (prefix === null) throw new Error("P-256 public key must be a 33- or 65-byte point");
      return createPublicKey({ key: Buffer.from(concat(prefix, pk)), format: "der", type: "spki" });
    },
    "sha256",
    "der",
  );
  return {
    async sign(signKey, message) {
      return p256.sign(message, signKey, { prehash: true, format: "der", lowS: false });
    },
    verify: async (publicKey, message, signature) => verifyP(publicKey, message, signature),
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
      throw new CryptoError(`signature ${alg} is not supported by the node:crypto provider`);
  }
}
