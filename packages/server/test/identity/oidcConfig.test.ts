/**
 * The `auth.oidc_*` configuration: the keys must hold together (issuer, audience, one key
 * source, https unless loopback), and `oidcFromConfig` builds the authenticator they
 * describe — from a JWKS file here (the URL path is oidc.test.ts's).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { generateSigningJwk, type SigningJwk } from "@kalandra/test-support/oidc";
import { importJWK, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { defaultConfig } from "../../src/config/schema.js";
import { oidcFromConfig } from "../../src/runtime/node/oidcKeys.js";

const dir = tempDir("oidc-config");
afterAll(() => dir.cleanup());

const problems = (auth: Record<string, unknown>) => {
  const r = buildConfig({ auth });
  return r.ok ? [] : r.issues.map((i) => `${i.key}: ${i.problem}`);
};

describe("auth.oidc_* validation", () => {
  it("accepts no OIDC at all, and a complete set", () => {
    expect(problems({})).toEqual([]);
    const complete = { oidc_issuer: "https://id.example.org", oidc_audience: "kalandra" };
    expect(problems({ ...complete, oidc_jwks_url: "https://id.example.org/jwks" })).toEqual([]);
    expect(problems({ ...complete, oidc_jwks_url: "http://127.0.0.1:8080/jwks" })).toEqual([]);
    expect(problems({ ...complete, oidc_jwks_url: "http://[::1]:8080/jwks" })).toEqual([]);
    expect(problems({ ...complete, oidc_jwks_file: "/etc/kalandra/jwks.json" })).toEqual([]);
  });

  it("names every missing or conflicting key", () => {
    expect(problems({ oidc_jwks_url: "https://id.example.org/jwks" })).toEqual([
      "auth.oidc_issuer: required for OpenID Connect",
      "auth.oidc_audience: required for OpenID Connect",
    ]);
    const base = { oidc_issuer: "https://id.example.org", oidc_audience: "kalandra" };
    expect(problems(base)).toEqual([
      "auth.oidc_jwks_url: set exactly one of auth.oidc_jwks_url and auth.oidc_jwks_file",
    ]);
    expect(
      problems({ ...base, oidc_jwks_url: "https://a/jwks", oidc_jwks_file: "/jwks.json" }),
    ).toEqual([
      "auth.oidc_jwks_url: set exactly one of auth.oidc_jwks_url and auth.oidc_jwks_file",
    ]);
    expect(problems({ ...base, oidc_jwks_file: "/j", oidc_user_claim: "" })).toEqual([
      "auth.oidc_user_claim: must not be empty",
    ]);
  });

  it("refuses plain http off loopback, and what is not a URL", () => {
    const base = { oidc_issuer: "https://id.example.org", oidc_audience: "kalandra" };
    for (const url of ["http://id.example.org/jwks", "not a url", "file:///etc/jwks.json"]) {
      expect(problems({ ...base, oidc_jwks_url: url })).toEqual([
        `auth.oidc_jwks_url: expected an https:// URL (http:// only on loopback), got ${JSON.stringify(url)}`,
      ]);
    }
    expect(problems({ oidc_clock_skew_s: 601 })).toEqual([
      "auth.oidc_clock_skew_s: must be at most 600, got 601",
    ]);
  });
});

describe("oidcFromConfig", () => {
  const key = generateSigningJwk("ES256");
  const { d: _private, ...publicKey } = key;
  const file = join(dir.path, "jwks.json");
  writeFileSync(file, JSON.stringify({ keys: [publicKey] }));

  const config = (auth: Partial<ReturnType<typeof defaultConfig>["auth"]>) => {
    const c = defaultConfig();
    Object.assign(c.auth, auth);
    c.server.domain = "example.org";
    return c;
  };
  const sign = async (k: SigningJwk, sub: string) =>
    new SignJWT({ iss: "https://id.example.org", aud: "kalandra", sub, exp: 2_000_000_000 })
      .setProtectedHeader({ alg: k.alg, kid: k.kid })
      .sign(await importJWK(k, k.alg));
  const hello = (token: string) => ({
    deviceKey: new Uint8Array(32),
    senderId: 1n,
    claimedUserId: "whoever",
    method: "oidc",
    credential: new TextEncoder().encode(token),
    nowSeconds: 1_900_000_000n,
  });

  it("is absent without an issuer", () => {
    expect(oidcFromConfig(defaultConfig())).toBeUndefined();
  });

  it("verifies against a JWKS file, with the configured claim and domain", async () => {
    const auth = oidcFromConfig(
      config({
        oidc_issuer: "https://id.example.org",
        oidc_audience: "kalandra",
        oidc_jwks_file: file,
      }),
    );
    expect(auth?.method).toBe("oidc");
    expect(await auth?.authenticate(hello(await sign(key, "dana")))).toEqual({
      ok: true,
      userId: "dana@example.org",
    });
    const stranger = generateSigningJwk("ES256");
    expect(await auth?.authenticate(hello(await sign(stranger, "dana")))).toMatchObject({
      ok: false,
      code: "AUTH_FAILED",
    });
  });

  it("refuses to start on an unreadable or malformed JWKS file, naming it", () => {
    const bad = join(dir.path, "bad.json");
    writeFileSync(bad, '{"keys": 7}');
    for (const path of [bad, join(dir.path, "missing.json")]) {
      expect(() =>
        oidcFromConfig(
          config({ oidc_issuer: "https://i", oidc_audience: "a", oidc_jwks_file: path }),
        ),
      ).toThrow(`auth.oidc_jwks_file ${path}`);
    }
  });
});
