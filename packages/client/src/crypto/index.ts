/**
 * @kalandra/client crypto: a fast ts-mls CryptoProvider on node:crypto (issue 5).
 *
 * @example
 * import { getKalandraCiphersuiteImpl } from "@kalandra/client";
 * const cs = getKalandraCiphersuiteImpl(rng); // suite 1, every random byte from `rng`
 */

export { type MlsSignatureKeys, mlsSignatureKeysFromSeed } from "./identity.js";
export {
  createKalandraCryptoProvider,
  defaultCryptoProvider,
  getKalandraCiphersuiteImpl,
  isNodeRuntime,
  KALANDRA_CIPHERSUITE,
  type KalandraCryptoOptions,
  makeKalandraCiphersuiteImpl,
  SUPPORTED_CIPHERSUITES,
} from "./provider.js";
export { toMlsRng } from "./rng.js";
