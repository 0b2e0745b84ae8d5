/**
 * The OIDC authenticator against a real OpenID provider (oidc-provider on loopback): ID
 * tokens from a real authorization-code + PKCE login, verified through the runtime's
 * remote JWKS; then every way a token must fail — expired, another audience, another
 * issuer, a key the issuer does not publish, a rotation at the issuer.
 */
import {
  generateSigningJwk,
  type SigningJwk,
  startOidcProvider,
  type TestOidcProvider,
} from "@kalandra/test-support/oidc";
import { decodeJwt, importJWK, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthRequest } from "../../src/identity/authenticator.js";
import {
  MAX_OIDC_TOKEN_BYTES,
  type OidcOptions,
  oidcAuthenticator,
  verifyOidcToken,
} from "../../src/identity/oidc.js";
import { remoteJwks } from "../../src/runtime/node/oidcKeys.js";

const enc = new TextEncoder();
const noCooldown = { cooldownMs: 0, cacheMaxMs: 600_000, timeoutMs: 5_000 };

let op: TestOidcProvider;
let options: OidcOptions;

beforeAll(async () => {
  op = await startOidcProvider();
  options = {
    issuer: op.issuer,
    audience: op.clientId,
    keys: remoteJwks(op.jwksUrl, noCooldown),
    userClaim: "sub",
    clockSkewSeconds: 60,
    domain: "localhost",
  };
});
afterAll(() => op.close());

/** Now, as the token's issuer saw it: one second after issuance. */
const justAfter = (token: string) => BigInt((decodeJwt(token).iat as number) + 1);
const verify = (token: string, now = justAfter(token), o: Partial<OidcOptions> = {}) =>
  verifyOidcToken(enc.encode(token), now, { ...options, ...o });

/** A token signed with the issuer's current private key, with any claims. */
async function issuerSigned(payload: JWTPayload, jwk?: SigningJwk): Promise<string> {
  const key = jwk ?? (op.privateJwks().keys[0] as SigningJwk);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .sign(await importJWK(key, key.alg));
}
const NOW = 1_800_000_000;
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  iss: op.issuer,
  aud: op.clientId,
  sub: "carol",
  iat: NOW,
  exp: NOW + 300,
  ...extra,
});

describe("a token from a real login", () => {
  it("authenticates its user as name@domain, whatever HELLO claims", async () => {
    const token = await op.login("alice");
    const auth = oidcAuthenticator({ ...options, domain: "example.org" });
    const req: AuthRequest = {
      deviceKey: new Uint8Array(32),
      senderId: 7n,
      claimedUserId: "mod",
      method: "oidc",
      credential: enc.encode(token),
      nowSeconds: justAfter(token),
    };
    expect(await auth.authenticate(req)).toEqual({ ok: true, userId: "alice@example.org" });
    expect(auth.method).toBe("oidc");
  });

  it("takes the user name from the configured claim", async () => {
    const token = await op.login("bob");
    expect(await verify(token, undefined, { userClaim: "preferred_username" })).toEqual({
      ok: true,
      userId: "bob@localhost",
    });
    // The provider's email is bob@localhost: its domain is this hub's.
    expect(await verify(token, undefined, { userClaim: "email" })).toEqual({
      ok: true,
      userId: "bob@localhost",
    });
    const other = await verify(token, undefined, { userClaim: "email", domain: "example.org" });
    expect(other).toMatchObject({ ok: false, reason: "domain" });
    expect(await verify(token, undefined, { userClaim: "nickname" })).toMatchObject({
      ok: false,
      reason: "claim",
    });
  });

  it("is refused once expired, the clock skew allowed", async () => {
    const token = await op.login("alice");
    const { exp } = decodeJwt(token) as { exp: number };
    expect(await verify(token, BigInt(exp + 59))).toMatchObject({ ok: true });
    expect(await verify(token, BigInt(exp + 60))).toMatchObject({ ok: false, reason: "expired" });
    expect(await verify(token, BigInt(exp), { clockSkewSeconds: 0 })).toMatchObject({
      ok: false,
      reason: "expired",
    });
  });

  it("honours the provider's token lifetime", async () => {
    const short = await startOidcProvider({ idTokenTtlS: 5, jwks: op.privateJwks() });
    try {
      const token = await short.login("alice");
      const { iat, exp } = decodeJwt(token) as { iat: number; exp: number };
      expect(exp - iat).toBe(5);
      const o = { issuer: short.issuer, clockSkewSeconds: 0 };
      expect(await verify(token, BigInt(iat + 4), o)).toMatchObject({ ok: true });
      expect(await verify(token, BigInt(iat + 5), o)).toMatchObject({ reason: "expired" });
    } finally {
      await short.close();
    }
  });

  it("is refused for another audience (another client of the same issuer)", async () => {
    const token = await op.login("alice", op.otherClientId);
    expect(decodeJwt(token).aud).toBe(op.otherClientId);
    const v = await verify(token);
    expect(v).toEqual({ ok: false, reason: "audience", message: "token is for another audience" });
  });

  it("is refused from another issuer, even one signing with the same keys", async () => {
    const other = await startOidcProvider({ jwks: op.privateJwks() });
    try {
      const token = await other.login("alice");
      expect(decodeJwt(token).iss).toBe(other.issuer);
      expect(await verify(token)).toMatchObject({ ok: false, reason: "issuer" });
    } finally {
      await other.close();
    }
  });
});

describe("keys", () => {
  it("refuses a token signed by a key the issuer does not publish", async () => {
    const rogue = generateSigningJwk("ES256");
    expect(await verify(await issuerSigned(claims(), rogue), BigInt(NOW))).toMatchObject({
      ok: false,
      reason: "unknown_key",
    });
    // The same, under the kid of the issuer's real key.
    const published = op.privateJwks().keys[0] as SigningJwk;
    const impostor = { ...generateSigningJwk("RS256"), kid: published.kid };
    expect(await verify(await issuerSigned(claims(), impostor), BigInt(NOW))).toMatchObject({
      ok: false,
      reason: "signature",
    });
  });

  it("follows a rotation at the issuer: new tokens verify after a refetch, old ones fail", async () => {
    const rotating = await startOidcProvider();
    try {
      const o = { issuer: rotating.issuer, keys: remoteJwks(rotating.jwksUrl, noCooldown) };
      const before = await rotating.login("alice");
      expect(await verify(before, undefined, o)).toMatchObject({ ok: true });
      expect(rotating.jwksFetches()).toBe(1);

      rotating.rotateKeys("EdDSA");
      const after = await rotating.login("alice");
      expect(await verify(after, undefined, o)).toEqual({ ok: true, userId: "alice@localhost" });
      expect(rotating.jwksFetches()).toBe(2);
      expect(await verify(before, undefined, o)).toMatchObject({
        ok: false,
        reason: "unknown_key",
      });
    } finally {
      await rotating.close();
    }
  });

  it("refetches at most once per cooldown, however many unknown key ids arrive", async () => {
    const rotating = await startOidcProvider();
    try {
      const timing = { cooldownMs: 3_600_000, cacheMaxMs: 3_600_000, timeoutMs: 5_000 };
      const o = { issuer: rotating.issuer, keys: remoteJwks(rotating.jwksUrl, timing) };
      expect(await verify(await rotating.login("alice"), undefined, o)).toMatchObject({ ok: true });
      rotating.rotateKeys();
      const after = await rotating.login("alice");
      for (let i = 0; i < 20; i++) {
        expect(await verify(after, undefined, o)).toMatchObject({ reason: "unknown_key" });
      }
      expect(rotating.jwksFetches()).toBe(1);
    } finally {
      await rotating.close();
    }
  });

  it("refuses every token while the issuer's keys cannot be fetched", async () => {
    const gone = await startOidcProvider();
    const url = gone.jwksUrl;
    await gone.close();
    const token = await issuerSigned(claims());
    expect(await verify(token, BigInt(NOW), { keys: remoteJwks(url, noCooldown) })).toEqual({
      ok: false,
      reason: "keys_unavailable",
      message: "the issuer's keys are unavailable",
    });
  });
});

describe("tokens no provider should issue", () => {
  const unsigned = (header: object, payload: object, sig = "") =>
    [header, payload].map((p) => Buffer.from(JSON.stringify(p)).toString("base64url")).join(".") +
    `.${sig}`;

  it("refuses alg none and shared-secret HS256 before looking for a key", async () => {
    const kid = op.privateJwks().keys[0]?.kid;
    expect(await verify(unsigned({ alg: "none" }, claims()), BigInt(NOW))).toMatchObject({
      reason: "algorithm",
    });
    // HS256 keyed with the issuer's public key material: the classic confusion attack.
    const secret = enc.encode(JSON.stringify(op.privateJwks().keys[0]?.n));
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid }).sign(secret);
    expect(await verify(hs, BigInt(NOW))).toMatchObject({ reason: "algorithm" });
  });

  it("requires exp, honours nbf with the skew, and needs the user claim", async () => {
    const noExp = claims();
    delete noExp.exp;
    expect(await verify(await issuerSigned(noExp), BigInt(NOW))).toMatchObject({
      reason: "claim",
    });
    const later = await issuerSigned(claims({ nbf: NOW + 100 }));
    expect(await verify(later, BigInt(NOW))).toMatchObject({ reason: "not_yet_valid" });
    expect(await verify(later, BigInt(NOW + 40))).toMatchObject({ ok: true });
    const noSub = claims();
    delete noSub.sub;
    expect(await verify(await issuerSigned(noSub), BigInt(NOW))).toMatchObject({
      reason: "claim",
    });
  });

  it("accepts an audience list that contains the hub's", async () => {
    const token = await issuerSigned(claims({ aud: ["someone-else", op.clientId] }));
    expect(await verify(token, BigInt(NOW))).toEqual({ ok: true, userId: "carol@localhost" });
  });

  it("refuses email unless email_verified is true", async () => {
    const email = { userClaim: "email" };
    const unverified = await issuerSigned(claims({ email: "carol@localhost" }));
    expect(await verify(unverified, BigInt(NOW), email)).toMatchObject({ reason: "claim" });
    const verified = await issuerSigned(claims({ email: "carol@LocalHost", email_verified: true }));
    expect(await verify(verified, BigInt(NOW), email)).toEqual({
      ok: true,
      userId: "carol@localhost",
    });
  });

  it("refuses malformed credentials without throwing", async () => {
    const now = BigInt(NOW);
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), "malformed"],
      [new Uint8Array(MAX_OIDC_TOKEN_BYTES + 1).fill(0x61), "malformed"],
      [new Uint8Array([0xff, 0xfe, 0x2e]), "malformed"],
      [enc.encode("not-a-jwt"), "malformed"],
      [enc.encode("a.b.c"), "malformed"],
      [enc.encode(unsigned({ alg: "RS256", crit: ["x"] }, claims(), "AA")), "malformed"],
    ];
    for (const [credential, reason] of cases) {
      expect(await verifyOidcToken(credential, now, options)).toMatchObject({ ok: false, reason });
    }
  });

  it("answers a HELLO that presents no token, or another method's, with a refusal", async () => {
    const auth = oidcAuthenticator(options);
    const base = { deviceKey: new Uint8Array(32), senderId: 1n, claimedUserId: "alice" };
    const none = await auth.authenticate({ ...base, nowSeconds: BigInt(NOW) });
    expect(none).toMatchObject({ ok: false, code: "AUTH_FAILED" });
    const token = await issuerSigned(claims());
    const wrong = await auth.authenticate({
      ...base,
      method: "enrollment",
      credential: enc.encode(token),
      nowSeconds: BigInt(NOW),
    });
    expect(wrong).toMatchObject({ ok: false, code: "AUTH_FAILED" });
    const expired = await auth.authenticate({
      ...base,
      method: "oidc",
      credential: enc.encode(token),
      nowSeconds: BigInt(NOW + 3600),
    });
    expect(expired).toEqual({ ok: false, code: "AUTH_FAILED", message: "oidc: token expired" });
  });
});
