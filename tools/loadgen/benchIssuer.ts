/**
 * A stand-in OpenID issuer for the load generator (`pnpm bench e2e` with
 * BENCH_E2E_AUTH=oidc): one EdDSA signing key, its JWKS written to a file the hub reads
 * (`auth.oidc_jwks_file`), and ID tokens for the load's users. The hub then verifies a real
 * JWT in every new device's HELLO, as it would with a real provider; only the key fetch
 * over HTTP is left out (the JWKS is cached after the first fetch in production anyway).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** What a load thread needs to mint tokens (plain data: it crosses to worker threads). */
export interface BenchIssuer {
  issuer: string;
  audience: string;
  /** The hub's `server.domain`: an authenticated user is `name@domain`. */
  domain: string;
  privateJwk: JWK;
}

/** A fresh issuer; `env` configures kalandrad to trust it (and only it). */
export async function createBenchIssuer(
  dir: string,
): Promise<{ issuer: BenchIssuer; env: Record<string, string> }> {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { extractable: true });
  const kid = "bench-1";
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" }] };
  const file = join(dir, "jwks.json");
  writeFileSync(file, JSON.stringify(jwks));
  const issuer: BenchIssuer = {
    issuer: "https://issuer.bench.invalid",
    audience: "kalandra-bench",
    domain: "localhost",
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "EdDSA" },
  };
  return {
    issuer,
    env: {
      KALANDRA_AUTH__METHODS: "oidc",
      KALANDRA_AUTH__OIDC_ISSUER: issuer.issuer,
      KALANDRA_AUTH__OIDC_AUDIENCE: issuer.audience,
      KALANDRA_AUTH__OIDC_JWKS_FILE: file,
    },
  };
}

/** An ID token for user `name`, valid for an hour. */
export async function tokenFor(issuer: BenchIssuer, name: string): Promise<string> {
  const key = await importJWK(issuer.privateJwk, "EdDSA");
  return new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", kid: issuer.privateJwk.kid ?? "" })
    .setIssuer(issuer.issuer)
    .setAudience(issuer.audience)
    .setSubject(name)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);
}
