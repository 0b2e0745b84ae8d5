/**
 * Ed25519 (RFC 8032, PureEdDSA) for every package: signers over a 32-byte seed, verification
 * against a raw 32-byte public key, and the one cache of imported public keys.
 *
 * Everything here takes and returns raw bytes. The implementation is the platform's,
 * chosen by the package's `#platform/*` subpath imports (package.json): node:crypto in
 * Node (sign ~39 µs, verify ~118 µs; PROBES, docs/performance.md), @noble/curves in
 * browsers and other runtimes. Node's `KeyObject` interop (the hub's key file, the signing
 * thread) lives in `node/keyObjects.ts`, the `@kalandra/proto/node` entry, Node-only.
 */

export {
  createDeviceSigner,
  ed25519PublicKey,
  ed25519Verify,
  ed25519VerifyAsync,
} from "#platform/ed25519";
export {
  checkKey,
  type DeviceSigner,
  ED25519_PKCS8_PREFIX,
  ED25519_SPKI_PREFIX,
  KEY_CACHE_MAX,
} from "./ed25519Keys.js";
