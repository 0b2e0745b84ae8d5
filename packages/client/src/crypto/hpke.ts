/**
 * HPKE (RFC 9180) in base mode, single-shot, on the platform's primitives: what MLS uses for
 * UpdatePath and Welcome encryption (RFC 9420 §5.1.3 EncryptWithLabel) and external
 * commits (export/import of the external init secret, RFC 9420 §8.3).
 *
 * ts-mls types HPKE keys as WebCrypto `CryptoKey`s but only ever passes them back to the
 * same provider, so ours are opaque records holding raw bytes and the platform's handle.
 */
import type { HpkeAlgorithm } from "ts-mls";
import type { Hpke, PrivateKey, PublicKey } from "ts-mls/crypto/hpke.js";
import { CryptoError } from "ts-mls/mlsError.js";
import { sameBytes } from "#platform/bytes";
import { makeSyncAeadFor } from "./aead.js";
import { ascii, concat, i2osp } from "./bytes.js";
import {
  type DhKem,
  type KemPrivateKey,
  type KemPublicKey,
  makeP256Kem,
  makeX25519Kem,
} from "./dhkem.js";
import { hashLength, hkdfExpand, hkdfExtract, nodeHashName } from "./hash.js";
import { KeyCache } from "./keyCache.js";
import type { Rng } from "./rng.js";

const HPKE_V1 = ascii("HPKE-v1");
const EMPTY = new Uint8Array(0);
const MODE_BASE = 0x00;
/** Infos at least this long have their info_hash kept for the next seal (a Welcome's). */
const LARGE_INFO = 64 * 1024;

interface OurPrivate {
  readonly type: "private";
  readonly kalandra: KemPrivateKey;
}
interface OurPublic {
  readonly type: "public";
  readonly kalandra: KemPublicKey;
}

export interface HpkeOptions {
  rng: Rng;
  /** How many imported public / private keys to keep as platform handles. */
  cacheSize?: number;
}

function kemFor(alg: HpkeAlgorithm["kem"]): DhKem {
  switch (alg) {
    case "DHKEM-X25519-HKDF-SHA256":
      return makeX25519Kem();
    case "DHKEM-P256-HKDF-SHA256":
      return makeP256Kem();
    default:
      throw new CryptoError(`KEM ${alg} is not supported by the Kalandra provider`);
  }
}

function kdfId(alg: HpkeAlgorithm["kdf"]): number {
  return alg === "HKDF-SHA256" ? 0x0001 : alg === "HKDF-SHA384" ? 0x0002 : 0x0003;
}

function toPrivate(k: PrivateKey): KemPrivateKey {
  const ours = (k as unknown as Partial<OurPrivate>).kalandra;
  if (ours === undefined) throw new CryptoError("private key was not made by this provider");
  return ours;
}
function toPublic(k: PublicKey): KemPublicKey {
  const ours = (k as unknown as Partial<OurPublic>).kalandra;
  if (ours === undefined) throw new CryptoError("public key was not made by this provider");
  return ours;
}
function wrapPrivate(k: KemPrivateKey): PrivateKey {
  return { type: "private", kalandra: k } as unknown as PrivateKey;
}
function wrapPublic(k: KemPublicKey): PublicKey {
  return { type: "public", kalandra: k } as unknown as PublicKey;
}

export function makeHpke(alg: HpkeAlgorithm, opts: HpkeOptions): Hpke {
  const { rng } = opts;
  const kem = kemFor(alg.kem);
  const aead = makeSyncAeadFor(alg.aead);
  const h = nodeHashName(alg.kdf);
  const nh = hashLength(h);
  const suiteId = concat(
    ascii("HPKE"),
    i2osp(kem.id, 2),
    i2osp(kdfId(alg.kdf), 2),
    i2osp(aead.id, 2),
  );
  const labeledExtract = (salt: Uint8Array, label: string, ikm: Uint8Array) =>
    hkdfExtract(h, salt, concat(HPKE_V1, suiteId, ascii(label), ikm));
  const labeledExpand = (prk: Uint8Array, label: string, info: Uint8Array, len: number) =>
    hkdfExpand(h, prk, concat(i2osp(len, 2), HPKE_V1, suiteId, ascii(label), info), len);
  // psk_id_hash is the same for every base-mode context: compute it once.
  const pskIdHash = labeledExtract(EMPTY, "psk_id_hash", EMPTY);

  const cacheSize = opts.cacheSize ?? 8192;
  const publicCache = new KeyCache<KemPublicKey>(cacheSize);
  const privateCache = new KeyCache<KemPrivateKey>(cacheSize, { secretKeys: true });

  // A Welcome seals every joiner's GroupSecrets with the same info: RFC 9420 §12.4.3.1
  // EncryptWithLabel(init_key, "Welcome", encrypted_group_info, …) puts the whole encrypted
  // GroupInfo, ratchet tree included, in the HPKE info (1.8 MB at 10,000 members). Hashing
  // it once per joiner was the largest cost of a commit adding 1,000 members to a large
  // group (docs/performance.md "Scale: large rooms"); the last large info and its info_hash
  // are kept, and an equal info (a memcmp, far cheaper than the hash) reuses the hash.
  let lastInfo: { bytes: Uint8Array; hash: Uint8Array } | undefined;
  function infoHashOf(info: Uint8Array): Uint8Array {
    if (info.length < LARGE_INFO) return labeledExtract(EMPTY, "info_hash", info);
    if (lastInfo !== undefined && sameBytes(lastInfo.bytes, info)) return lastInfo.hash;
    const hash = labeledExtract(EMPTY, "info_hash", info);
    lastInfo = { bytes: info.slice(), hash };
    return hash;
  }

  /** KeySchedule<ROLE>(mode_base, shared_secret, info, "", "") of RFC 9180 §5.1. */
  function keySchedule(sharedSecret: Uint8Array, info: Uint8Array) {
    const infoHash = infoHashOf(info);
    const context = concat(i2osp(MODE_BASE, 1), pskIdHash, infoHash);
    const secret = labeledExtract(sharedSecret, "secret", EMPTY);
    return {
      key: labeledExpand(secret, "key", context, aead.keyLength),
      baseNonce: labeledExpand(secret, "base_nonce", context, aead.nonceLength),
      exporterSecret: labeledExpand(secret, "exp", context, nh),
    };
  }

  /** Encap(pkR) of RFC 9180 §4.1 with the ephemeral key drawn from the injected rng. */
  function encap(pkR: KemPublicKey): { sharedSecret: Uint8Array; enc: Uint8Array } {
    const ephemeral = kem.generate(rng);
    const dh = kem.dh(ephemeral, pkR);
    const enc = ephemeral.publicBytes;
    return { sharedSecret: kem.extractAndExpand(dh, concat(enc, pkR.raw)), enc };
  }

  /** Decap(enc, skR). The ephemeral `enc` is imported without caching: it is never reused. */
  function decap(enc: Uint8Array, skR: KemPrivateKey): Uint8Array {
    const pkE = kem.importPublic(enc);
    const dh = kem.dh(skR, pkE);
    return kem.extractAndExpand(dh, concat(enc, skR.publicBytes));
  }

  return {
    async seal(publicKey, plaintext, info, aad) {
      const { sharedSecret, enc } = encap(toPublic(publicKey));
      const ks = keySchedule(sharedSecret, info);
      // Single-shot: sequence number 0, so the nonce is base_nonce itself (§5.2).
      const ct = aead.seal(ks.key, ks.baseNonce, aad ?? EMPTY, plaintext);
      return { ct, enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const ks = keySchedule(decap(kemOutput, toPrivate(privateKey)), info);
      return aead.open(ks.key, ks.baseNonce, aad ?? EMPTY, ciphertext);
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const { sharedSecret, enc } = encap(toPublic(publicKey));
      const ks = keySchedule(sharedSecret, info);
      return { enc, secret: labeledExpand(ks.exporterSecret, "sec", exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      const ks = keySchedule(decap(kemOutput, toPrivate(privateKey)), info);
      return labeledExpand(ks.exporterSecret, "sec", exporterContext, length);
    },
    async importPrivateKey(k) {
      return wrapPrivate(privateCache.getOrCreate(k, () => kem.importPrivate(k)));
    },
    async importPublicKey(k) {
      return wrapPublic(publicCache.getOrCreate(k, () => kem.importPublic(k)));
    },
    async exportPublicKey(k) {
      return Uint8Array.from(toPublic(k).raw);
    },
    async exportPrivateKey(k) {
      return Uint8Array.from(toPrivate(k).raw);
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return aead.seal(key, nonce, aad ?? EMPTY, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      return aead.open(key, nonce, aad ?? EMPTY, ciphertext);
    },
    async deriveKeyPair(ikm) {
      const sk = kem.derive(ikm);
      return { privateKey: wrapPrivate(sk), publicKey: wrapPublic(publicOf(sk)) };
    },
    async generateKeyPair() {
      const sk = kem.generate(rng);
      return { privateKey: wrapPrivate(sk), publicKey: wrapPublic(publicOf(sk)) };
    },
    keyLength: aead.keyLength,
    nonceLength: aead.nonceLength,
  };

  /** The public half of a freshly made key, imported lazily only if it is used for DH. */
  function publicOf(sk: KemPrivateKey): KemPublicKey {
    let handle: KemPublicKey["handle"] | undefined;
    return {
      raw: sk.publicBytes,
      get handle() {
        handle ??= kem.importPublic(sk.publicBytes).handle;
        return handle;
      },
    };
  }
}
