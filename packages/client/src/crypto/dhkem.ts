/**
 * DHKEM(X25519, HKDF-SHA256) and DHKEM(P-256, HKDF-SHA256) of RFC 9180 §4.1 on the
 * platform's curves (`#platform/ecdh`: OpenSSL in Node, @noble/curves elsewhere). Keys are
 * imported once and kept as handles next to their raw bytes, so a key used again costs
 * only the DH.
 */
import { toHex } from "@kalandra/proto";
import { CryptoError } from "ts-mls/mlsError.js";
import {
  type KeyHandle,
  p256,
  p256PrivateKey,
  p256PublicKey,
  x25519,
  x25519PrivateKey,
  x25519PublicKey,
} from "#platform/ecdh";
import { ascii, concat, i2osp, isAllZero } from "./bytes.js";
import { hkdfExpand, hkdfExtract } from "./hash.js";
import type { Rng } from "./rng.js";

export interface KemPrivateKey {
  readonly raw: Uint8Array;
  /** SerializePublicKey(pk(sk)). */
  readonly publicBytes: Uint8Array;
  readonly handle: KeyHandle;
}

export interface KemPublicKey {
  readonly raw: Uint8Array;
  readonly handle: KeyHandle;
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
  return { raw, ...x25519PrivateKey(raw) };
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
        return { raw, handle: x25519PublicKey(raw) };
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
        out = x25519(sk.handle, pk.handle);
      } catch (e) {
        throw new CryptoError(`X25519 failed: ${e}`);
      }
      // RFC 9180 §7.1.4: an all-zero shared secret (small-order point) must be rejected.
      if (isAllZero(out)) throw new CryptoError("X25519 produced the all-zero value");
      return out;
    },
    extractAndExpand: extractAndExpandFor(id),
  };
}

// The order of the P-256 group, big-endian (SEC 2 §2.4.2).
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function p256ScalarOk(b: Uint8Array): boolean {
  const s = BigInt(`0x${toHex(b)}`);
  return s !== 0n && s < P256_ORDER;
}

function p256Private(sk: Uint8Array): KemPrivateKey {
  if (sk.length !== 32 || !p256ScalarOk(sk)) {
    throw new CryptoError("P-256 private key must be a 32-byte scalar in [1, n)");
  }
  const raw = Uint8Array.from(sk);
  return { raw, ...p256PrivateKey(raw) };
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
      // Uncompressed SEC1 points only (RFC 9180 §7.1.1); the platform checks the point.
      if (pk.length !== 65 || pk[0] !== 0x04) {
        throw new CryptoError("P-256 public key must be an uncompressed 65-byte point");
      }
      const raw = Uint8Array.from(pk);
      try {
        return { raw, handle: p256PublicKey(raw) };
      } catch (e) {
        throw new CryptoError(`invalid P-256 public key: ${e}`);
      }
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
        return p256(sk.handle, pk.handle);
      } catch (e) {
        throw new CryptoError(`P-256 ECDH failed: ${e}`);
      }
    },
    extractAndExpand: extractAndExpandFor(id),
  };
}
