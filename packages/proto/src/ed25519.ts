/**
 * Ed25519 (RFC 8032, PureEdDSA) for every package: signers over a 32-byte seed, verification
 * against a raw 32-byte public key, and the one cache of imported public keys.
 *
 * Everything here takes and returns raw bytes, so this is the one file to swap when proto
 * runs in a browser (issue 14: WebCrypto or @noble behind an export condition). Node's
 * `KeyObject` interop (the hub's key file, the signing thread) lives in
 * `node/keyObjects.ts`, the `@kalandra/proto/node` entry, which stays Node-only.
 *
 * Cost (PROBES, docs/performance.md): sign ~39 µs, verify ~118 µs with node:crypto.
 * Importing a public key costs ~9 µs through JWK against ~110-200 µs through SPKI DER
 * (measured here on Node 20), so keys are imported through JWK and cached.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";

/** Something that signs with an Ed25519 key; the private key never leaves it. */
export interface DeviceSigner {
  /** The 32-byte Ed25519 public key (also the MLS leaf signature key). */
  readonly publicKey: Uint8Array;
  /** A 64-byte Ed25519 signature over `data`. */
  sign(data: Uint8Array): Uint8Array;
}

/** RFC 8410 PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
export const ED25519_PKCS8_PREFIX: Uint8Array = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
/** RFC 8410 SPKI DER prefix of an Ed25519 public key; the 32 key bytes follow. */
export const ED25519_SPKI_PREFIX: Uint8Array = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);

/** @internal Throws a labelled TypeError unless `key` is 32 bytes. */
export function checkKey(name: string, key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError(`"${name}" expected Uint8Array of length 32`);
  }
}

const b64url = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url");

/** @internal node:crypto private key of a 32-byte seed (RFC 8032 §5.1.5); the DER copy is wiped. */
export function privateKeyOfSeed(seed: Uint8Array): KeyObject {
  checkKey("seed", seed);
  const der = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
  der.set(ED25519_PKCS8_PREFIX);
  der.set(seed, ED25519_PKCS8_PREFIX.length);
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer), format: "der", type: "pkcs8" });
  } finally {
    der.fill(0); // the seed copy is spent
  }
}

/** @internal The raw 32-byte public key of an Ed25519 KeyObject (private or public). */
export function rawPublicKeyOf(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError("not an Ed25519 key");
  const { x } = key.export({ format: "jwk" });
  if (typeof x !== "string") throw new TypeError("not an Ed25519 key");
  return new Uint8Array(Buffer.from(x, "base64url"));
}

/** @internal A signer over an imported private key. */
export function signerOfKey(privateKey: KeyObject): DeviceSigner {
  const publicKey = rawPublicKeyOf(privateKey);
  return {
    publicKey,
    sign(data: Uint8Array): Uint8Array {
      if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
      const sig = sign(null, data, privateKey);
      return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
    },
  };
}

/**
 * A signer for the Ed25519 key whose 32-byte private seed is given (RFC 8032 §5.1.5);
 * the key is imported once.
 *
 * @example
 * const s = createDeviceSigner(seed);
 * ed25519Verify(s.publicKey, msg, s.sign(msg)); // true
 */
export function createDeviceSigner(privateKeySeed32: Uint8Array): DeviceSigner {
  checkKey("privateKeySeed32", privateKeySeed32);
  return signerOfKey(privateKeyOfSeed(privateKeySeed32));
}

/** The 32-byte public key of a 32-byte seed (RFC 8032 §5.1.5). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return rawPublicKeyOf(privateKeyOfSeed(seed));
}

/**
 * Imported public keys, most recently used last; `null` for bytes that are not a valid
 * key, so a flood of frames under a bad key costs one parse. Bounded, so a flood of
 * distinct keys costs O(1) memory; large enough for the hub's view of big groups.
 */
export const KEY_CACHE_MAX = 16_384;
const keyCache = new Map<string, KeyObject | null>();

/** @internal The cached KeyObject of a raw public key, null when it is not a valid key. */
export function publicKeyObject(publicKey: Uint8Array): KeyObject | null {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return null;
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString("latin1");
  const hit = keyCache.get(id);
  if (hit !== undefined) {
    keyCache.delete(id);
    keyCache.set(id, hit);
    return hit;
  }
  let key: KeyObject | null;
  try {
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: b64url(publicKey) },
      format: "jwk",
    });
  } catch {
    key = null; // not a valid encoding: nothing verifies against it
  }
  keyCache.set(id, key);
  if (keyCache.size > KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  return key;
}

/**
 * True when `signature` is a valid Ed25519 signature by `publicKey` over `message`. Never
 * throws: a key that is not 32 valid bytes or a signature that is not 64 bytes is false.
 */
export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  const key = publicKeyObject(publicKey);
  if (key === null) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * `ed25519Verify` off the calling thread (node:crypto runs it on libuv's pool; WebCrypto
 * is asynchronous anyway). `done` is always called later, exactly once, never with a throw.
 * The caller must not change `message` until `done` runs.
 */
export function ed25519VerifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  done: (ok: boolean) => void,
): void {
  const key =
    signature instanceof Uint8Array && signature.length === 64 ? publicKeyObject(publicKey) : null;
  if (key === null) {
    queueMicrotask(() => done(false));
    return;
  }
  try {
    verify(null, message, key, signature, (err, ok) => done(err === null && ok));
  } catch {
    queueMicrotask(() => done(false));
  }
}
