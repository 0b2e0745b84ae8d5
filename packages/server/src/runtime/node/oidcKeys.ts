/**
 * Where the OIDC authenticator's keys come from (identity/oidc.ts takes them injected):
 * the issuer's JWKS fetched from a URL, or read from a file at start.
 *
 * From a URL, jose's remote set: fetched on first use, kept for `cacheMaxMs`, and fetched
 * again when a token names a key it does not hold (the issuer rotated) — but at most once
 * per `cooldownMs`, so a stream of tokens with made-up key ids cannot make the hub hammer
 * the issuer. Redirects are not followed.
 */
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from "jose";
import type { Config } from "../../config/schema.js";
import type { Authenticator } from "../../identity/authenticator.js";
import { type OidcOptions, oidcAuthenticator } from "../../identity/oidc.js";

export interface RemoteJwksTiming {
  /** Least time between two fetches caused by an unknown key id. */
  cooldownMs: number;
  /** A fetched set is used this long before it is fetched again. */
  cacheMaxMs: number;
  /** A fetch taking longer fails (the HELLO is refused, the next one tries again). */
  timeoutMs: number;
}

export const DEFAULT_JWKS_TIMING: RemoteJwksTiming = {
  cooldownMs: 30_000,
  cacheMaxMs: 600_000,
  timeoutMs: 5_000,
};

/** The issuer's keys from `url`, refetched on an unknown key id (with a cooldown). */
export function remoteJwks(
  url: string,
  timing: RemoteJwksTiming = DEFAULT_JWKS_TIMING,
): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    cooldownDuration: timing.cooldownMs,
    cacheMaxAge: timing.cacheMaxMs,
    timeoutDuration: timing.timeoutMs,
  });
}

/** The keys of a JWKS file (`{"keys": [...]}`), read once; throws with the path if unusable. */
export function fileJwks(path: string): JWTVerifyGetKey {
  let set: JSONWebKeySet;
  try {
    set = JSON.parse(readFileSync(path, "utf8")) as JSONWebKeySet;
    return createLocalJWKSet(set);
  } catch (e) {
    throw new Error(
      `auth.oidc_jwks_file ${path}: not a JSON Web Key Set (${(e as Error).message})`,
    );
  }
}

/**
 * The OIDC authenticator the configuration describes, or undefined when `auth.oidc_issuer`
 * is empty. load.ts has already checked that issuer, audience and one key source are set.
 */
export function oidcFromConfig(
  config: Config,
  timing: RemoteJwksTiming = DEFAULT_JWKS_TIMING,
): Authenticator | undefined {
  const a = config.auth;
  if (a.oidc_issuer === "") return undefined;
  const options: OidcOptions = {
    issuer: a.oidc_issuer,
    audience: a.oidc_audience,
    keys: a.oidc_jwks_url !== "" ? remoteJwks(a.oidc_jwks_url, timing) : fileJwks(a.oidc_jwks_file),
    userClaim: a.oidc_user_claim,
    clockSkewSeconds: a.oidc_clock_skew_s,
    domain: config.server.domain,
  };
  return oidcAuthenticator(options);
}
