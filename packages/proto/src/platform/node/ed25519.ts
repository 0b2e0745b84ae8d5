/**
 * Ed25519 on node:crypto (the Node side of `#platform/ed25519`). Importing a public key
 * costs ~9 µs through JWK against ~110-200 µs through SPKI DER (measured on Node 20), so
 * keys are imported through JWK and cached. The KeyObject helpers marked internal serve
 * `@kalandra/proto/node` (node/keyObjects.ts).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import {
  checkKey,
  type DeviceSigner,
  ED25519_PKCS8_PREFIX,
  KEY_CACHE_MAX,
} from "../../ed25519Keys.js";

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

export function createDeviceSigner(privateKeySeed32: Uint8Array): DeviceSigner {
  checkKey("privateKeySeed32", privateKeySeed32);
  return signerOfKey(privateKeyOfSeed(privateKeySeed32));
}

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return rawPublicKeyOf(privateKeyOfSeed(seed));
}

/**
 * Imported public keys, most recently used last; `null` for bytes that are not a valid
 * key, so a flood of frames under a bad key costs one parse.
 */
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
