/**
 * A device's MLS signature key pair from its Ed25519 seed. The device key is both the
 * frame signing key and the MLS leaf `signaturePublicKey` (docs/contracts.md, Identity),
 * so the same 32-byte seed must serve ts-mls as the leaf's signature private key.
 *
 * Format: for suite 1 (Ed25519) ts-mls's signature private key ("signKey") is the raw
 * 32-byte RFC 8032 seed. Every provider accepts it: ours, the noble one, and the default
 * WebCrypto one (which wraps 32-byte keys into PKCS#8 before importing them).
 */
import { ed25519PublicKey } from "@kalandra/proto";

export interface MlsSignatureKeys {
  /** ts-mls `signatureKeyPair.signKey` / `PrivateKeyPackage.signaturePrivateKey`. */
  signKey: Uint8Array;
  /** ts-mls `signatureKeyPair.publicKey` = the leaf's `signaturePublicKey` = device key. */
  publicKey: Uint8Array;
}

/**
 * @example
 * const keys = mlsSignatureKeysFromSeed(deviceSeed);
 * const kp = await generateKeyPackageWithKey(credential, caps, lifetime, [], keys, cs);
 */
export function mlsSignatureKeysFromSeed(seed32: Uint8Array): MlsSignatureKeys {
  if (!(seed32 instanceof Uint8Array) || seed32.length !== 32) {
    throw new RangeError(`"seed32" expected Uint8Array of length 32`);
  }
  const signKey = Uint8Array.from(seed32);
  return { signKey, publicKey: ed25519PublicKey(signKey) };
}
