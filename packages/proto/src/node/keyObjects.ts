/**
 * `@kalandra/proto/node`: Node-only interop between raw Ed25519 keys and node:crypto
 * `KeyObject`s, for runtime code that holds keys as KeyObjects (the hub's key file, the
 * signing thread, worker shards). The portable API is in the package's main entry; this
 * entry stays Node-only when proto gains a browser build (issue 14).
 *
 * @example
 * import { ed25519KeySigner } from "@kalandra/proto/node";
 * const signer = ed25519KeySigner(createPrivateKey(pem)); // a DeviceSigner
 */
import type { KeyObject } from "node:crypto";
import type { DeviceSigner } from "../ed25519Keys.js";
import {
  privateKeyOfSeed,
  publicKeyObject,
  rawPublicKeyOf,
  signerOfKey,
} from "../platform/node/ed25519.js";

/** A node:crypto private key of a 32-byte Ed25519 seed (RFC 8032 §5.1.5). */
export function ed25519PrivateKeyObject(seed: Uint8Array): KeyObject {
  return privateKeyOfSeed(seed);
}

/** The cached node:crypto key of a raw 32-byte public key; null when it is not a valid key. */
export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject | null {
  return publicKeyObject(publicKey);
}

/** The raw 32-byte public key of an Ed25519 KeyObject (private or public). */
export function ed25519RawPublicKey(key: KeyObject): Uint8Array {
  return rawPublicKeyOf(key);
}

/** The 32-byte seed of an Ed25519 private KeyObject (handle with care: it is the secret). */
export function ed25519SeedOf(privateKey: KeyObject): Uint8Array {
  const d =
    privateKey.asymmetricKeyType === "ed25519" ? privateKey.export({ format: "jwk" }).d : undefined;
  if (typeof d !== "string") throw new TypeError("not an Ed25519 private key");
  return new Uint8Array(Buffer.from(d, "base64url"));
}

/** A DeviceSigner over an Ed25519 private KeyObject (the key stays a KeyObject). */
export function ed25519KeySigner(privateKey: KeyObject): DeviceSigner {
  return signerOfKey(privateKey);
}
