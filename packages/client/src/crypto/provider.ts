/**
 * The Kalandra CryptoProvider for ts-mls: every primitive synchronous under ts-mls's
 * Promise-shaped interface, on the platform's crypto (package.json `#platform/*`:
 * node:crypto in Node, @noble in browsers and elsewhere, the same code above them), keys
 * cached as platform handles, and every random draw from one injected Rng (see rng.ts). Supported cipher suites:
 * 1 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (Kalandra's suite, docs/contracts.md),
 * 2 MLS_128_DHKEMP256_AES128GCM_SHA256_P256 and
 * 3 MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519.
 */
import {
  type Ciphersuite,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  getCiphersuiteFromName,
} from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { makeHash, makeKdf } from "./hash.js";
import { makeHpke } from "./hpke.js";
import { defaultRng, type Rng, toMlsRng } from "./rng.js";
import { makeSignature } from "./signature.js";

/** Kalandra's cipher suite everywhere (docs/contracts.md, "Frames"). */
export const KALANDRA_CIPHERSUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export const SUPPORTED_CIPHERSUITES: readonly CiphersuiteName[] = [
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
];

export interface KalandraCryptoOptions {
  /** Source of every random byte; defaults to the platform's CSPRNG. */
  rng?: Rng;
  /** Imported keys kept per kind (HPKE public/private, signature public); default 8192. */
  keyCacheSize?: number;
}

/**
 * Builds the ciphersuite implementation synchronously (ts-mls's own getter is async
 * only because its default provider loads optional modules).
 *
 * @example
 * const cs = makeKalandraCiphersuiteImpl(getCiphersuiteFromName(KALANDRA_CIPHERSUITE));
 * const group = await createGroup(groupId, keyPackage, privateKeyPackage, [], cs);
 */
export function makeKalandraCiphersuiteImpl(
  suite: Ciphersuite,
  opts: KalandraCryptoOptions = {},
): CiphersuiteImpl {
  if (!SUPPORTED_CIPHERSUITES.includes(suite.name)) {
    throw new CryptoError(`cipher suite ${suite.name} is not supported by the Kalandra provider`);
  }
  const rng = opts.rng ?? defaultRng;
  const cacheSize = opts.keyCacheSize ?? 8192;
  return {
    hash: makeHash(suite.hash),
    kdf: makeKdf(suite.hpke.kdf),
    hpke: makeHpke(suite.hpke, { rng, cacheSize }),
    signature: makeSignature(suite.signature, { rng, cacheSize }),
    rng: toMlsRng(rng),
    name: suite.name,
  };
}

/**
 * A ts-mls `CryptoProvider` on the platform's crypto. Each call of `getCiphersuiteImpl` builds a
 * fresh implementation (own key caches) drawing from the same Rng.
 *
 * @example
 * const cs = await getCiphersuiteImpl(getCiphersuiteFromName(KALANDRA_CIPHERSUITE),
 *   createKalandraCryptoProvider({ rng: seededRng }));
 */
export function createKalandraCryptoProvider(opts: KalandraCryptoOptions = {}): CryptoProvider {
  return {
    getCiphersuiteImpl: async (cs) => makeKalandraCiphersuiteImpl(cs, opts),
  };
}

/**
 * The ciphersuite implementation for suite 1 (or `suite`), ready to pass to ts-mls
 * functions as `cs`. Synchronous; `await` on it is harmless.
 *
 * @example
 * const cs = getKalandraCiphersuiteImpl(rng);
 * const { publicPackage, privatePackage } = await generateKeyPackageWithKey(..., cs);
 */
export function getKalandraCiphersuiteImpl(
  rng?: Rng,
  suite: CiphersuiteName = KALANDRA_CIPHERSUITE,
): CiphersuiteImpl {
  return makeKalandraCiphersuiteImpl(getCiphersuiteFromName(suite), rng ? { rng } : {});
}

/**
 * The provider the client uses unless told otherwise: ours, on every platform (the
 * platform's primitives are chosen when the package is resolved, not by sniffing).
 */
export function defaultCryptoProvider(opts: KalandraCryptoOptions = {}): CryptoProvider {
  return createKalandraCryptoProvider(opts);
}
