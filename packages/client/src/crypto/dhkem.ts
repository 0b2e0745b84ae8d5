/**
 * DHKEM(X25519, HKDF-SHA256) and DHKEM(P-256, HKDF-SHA256) of RFC 9180 §4.1 on
 * node:crypto. Keys are imported into OpenSSL once (X25519 KeyObjects, P-256 ECDH
 * objects) and kept next to their raw bytes, so a key used again costs only the DH.
 */
import { createECDH, diffieHellman, ECDH, type KeyObject } from "node:crypto";
import { CryptoError } from "ts-mls/mlsError.js";
import { ascii, concat, i2osp, isAllZero } from "./bytes.js";
import { hkdfExpand, hkdfExtract } from "./hash.js";
import { okpPrivateKey, okpPublicBytes, okpPublicKey } from "./okp.js";
import type { Rng } from "./rng.js";

export interface KemPrivateKey {
  readonly raw: Uint8Array;
  /** SerializePublicKey(pk(sk)). */
  readonly publicBytes: Uint8Array;
  readonly handle: KeyObject | ECDH;
}

export interface KemPublicKey {
  readonly raw: Uint8Array;
  readonly handle: KeyObject | Uint8Array;
}

export interface DhKem {
  /** RFC 9180 kem_id. */
  readonly id: number;
  readonly nsk: number;
  readonly npk: number;
  importPrivate(sk: Uint8Array): KemPrivateKey;
  importPublic(pk: Uint8Array): KemPublicKey;
  /** DeriveKeyPair(ikm), RFC 9180 §7.1.3. */
  derive(ikm: Uint8Array): KemPrivateKey;
  /** GenerateKeyPair() with every random byte drawn from `rng`. */
  generate(rng: Rng): KemPrivateKey;
  /** DH(sk, pk); throws CryptoError on an invalid public key or an all-zero result. */
  dh(sk: KemPrivateKey, pk: KemPublicKey): Uint8Array;
  /** ExtractAndExpand(dh, kem_context) of RFC 9180 §4.1. */
  extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array;
}

const HPKE_V1 = ascii("HPKE-v1");
const EMPTY = new Uint8Array(0);

/** LabeledExtract / LabeledExpand of RFC 9180 §4 with the KEM's suite_id, HKDF-SHA256. */
function kemLabels(kemId: number) {
  const suiteId = concat(ascii("KEM"), i2osp(kemId, 2));
  const labeledExtract = (salt: Uint8Array, label: string, ikm: Uint8Array) =>
    hkdfExtract("sha256", salt, concat(HPKE_V1, suiteId, ascii(label), ikm));
  const labeledExpand = (prk: Uint8Array, label: string, info: Uint8Array, len: number) =>
    hkdfExpand("sha256", prk, concat(i2osp(len, 2), HPKE_V1, suiteId, ascii(label), info), len);
  return { labeledExtract, labeledExpand };
}

function extractAndExpandFor(kemId: number) {
  const { labeledExtract, labeledExpand } = kemLabels(kemId);
  return (dh: Uint8Array, kemContext: Uint8Array) =>
    labeledExpand(labeledExtract(EMPTY, "eae_prk", dh), "shared_secret", kemContext, 32);
}

function x25519Private(sk: Uint8Array): KemPrivateKey {
  if (sk.length !== 32) throw new CryptoError(`X25519 private key must be 32 bytes`);
  const raw = Uint8Array.from(sk);
  const handle = okpPrivateKey("X25519", raw);
  return { raw, publicBytes: okpPublicBytes(handle), handle };
}

export function makeX25519Kem(): DhKem {
  const id = 0x0020;
  const { labeledExtract, labeledExpand } = kemLabels(id);
  return {
    id,
    nsk: 32,
    npk: 32,
    importPrivate: x25519Private,
    importPublic(pk) {
      if (pk.length !== 32) throw new CryptoError(`X25519 public key must be 32 bytes`);
      const raw = Uint8Array.from(pk);
      try {
        return { raw, handle: okpPublicKey("X25519", raw) };
      } catch (e) {
        throw new CryptoError(`invalid X25519 public key: ${e}`);
      }
    },
    derive(ikm) {
      const dkpPrk = labeledExtract(EMPTY, "dkp_prk", ikm);
      return x25519Private(labeledExpand(dkpPrk, "sk", EMPTY, 32));
    },
    generate: (rng) => x25519Private(rng.bytes(32)),
    dh(sk, pk) {
      let out: Uint8Array;
      try {
        out = diffieHellman({
          privateKey: sk.handle as KeyObject,
          publicKey: pk.handle as KeyObject,
        });
      } catch (e) {
        throw new CryptoError(`X25519 failed: ${e}`);
      }
      // RFC 9180 §7.1.4: an all-zero shared secret (small-order point) must be rejected.
      if (isAllZero(out)) throw new CryptoError("X25519 produced the all-zero value");
      return Uint8Array.from(out);
    },
    extractAndExpand: extractAndExpandFor(id),
  };
}

// The order of the P-256 group, big-endian (SEC 2 §2.4.2).
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function p256ScalarOk(b: Uint8Array): boolean {
  const s = BigInt(`0x${Buffer.from(b).toString("hex")}`);
  return s !== 0n && s < P256_ORDER;
}

function p256Private(sk: Uint8Array): KemPrivateKey {
  if (sk.length !== 32 || !p256ScalarOk(sk)) {
    throw new CryptoError("P-256 private key must be a 32-byte scalar in [1, n)");
  }
  const raw = Uint8Array.from(sk);
  const handle = createECDH("prime256v1");
  handle.setPrivateKey(raw);
  return { raw, publicBytes: Uint8Array.from(handle.getPublicKey()), handle };
}

export function makeP256Kem(): DhKem {
  const id = 0x0010;
  const { labeledExtract, labeledExpand } = kemLabels(id);
  return {
    id,
    nsk: 32,
    npk: 65,
    importPrivate: p256Private,
    importPublic(pk) {
      // Uncompressed SEC1 points only (RFC 9180 §7.1.1); convertKey checks the point.
      if (pk.length !== 65 || pk[0] !== 0x04) {
        throw new CryptoError("P-256 public key must be an uncompressed 65-byte point");
      }
      try {
        // Decoding (and re-encoding) the point fails for points not on the curve.
        ECDH.convertKey(pk, "prime256v1", undefined, undefined, "uncompressed");
      } catch (e) {
        throw new CryptoError(`invalid P-256 public key: ${e}`);
      }
      const raw = Uint8Array.from(pk);
      return { raw, handle: raw };
    },
    derive(ikm) {
      // RFC 9180 §7.1.3: rejection sampling with bitmask 0xff for P-256.
      const dkpPrk = labeledExtract(EMPTY, "dkp_prk", ikm);
      for (let counter = 0; counter < 256; counter++) {
        const candidate = labeledExpand(dkpPrk, "candidate", i2osp(counter, 1), 32);
        if (p256ScalarOk(candidate)) return p256Private(candidate);
      }
      throw new CryptoError("DeriveKeyPairError");
    },
    generate(rng) {
      for (let i = 0; i < 256; i++) {
        const candidate = rng.bytes(32);
        if (p256ScalarOk(candidate)) return p256Private(candidate);
      }
      throw new CryptoError("could not draw a P-256 scalar");
    },
    dh(sk, pk) {
      try {
        return Uint8Array.from((sk.handle as ECDH).computeSecret(pk.handle as Uint8Array));
      } catch (e) {
        throw new CryptoError(`P-256 ECDH failed: ${e}`);
      }
    },
    extractAndExpand: extractAndExpandFor(id),
  };
}
