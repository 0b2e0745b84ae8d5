/**
 * Ed25519 on @noble/curves (the browser and default side of `#platform/ed25519`):
 * synchronous, pure JavaScript, no Node module. Verification is RFC 8032 strict
 * (`zip215: false`: canonical encodings only), as OpenSSL's is on the Node side.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { checkKey, type DeviceSigner } from "../../ed25519Keys.js";

export function createDeviceSigner(privateKeySeed32: Uint8Array): DeviceSigner {
  checkKey("privateKeySeed32", privateKeySeed32);
  const seed = Uint8Array.from(privateKeySeed32);
  const publicKey = ed25519.getPublicKey(seed);
  return {
    publicKey,
    sign(data: Uint8Array): Uint8Array {
      if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
      return ed25519.sign(data, seed);
    },
  };
}

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  checkKey("seed", seed);
  return ed25519.getPublicKey(seed);
}

export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(message instanceof Uint8Array)) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false; // not a point, not canonical: nothing verifies against it
  }
}

/** Verification in a later microtask, so `done` is never called before this returns. */
export function ed25519VerifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  done: (ok: boolean) => void,
): void {
  queueMicrotask(() => done(ed25519Verify(publicKey, message, signature)));
}
