/**
 * @kalandra/client crypto: a fast, synchronous ts-mls CryptoProvider (issue 5) on the
 * platform's primitives (`#platform/*`: node:crypto in Node, @noble in browsers).
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
  KALANDRA_CIPHERSUITE,
  type KalandraCryptoOptions,
  makeKalandraCiphersuiteImpl,
  SUPPORTED_CIPHERSUITES,
} from "./provider.js";
export { toMlsRng } from "./rng.js";
