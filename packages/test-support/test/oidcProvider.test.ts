/**
 * The test OpenID provider does what the OIDC tests rely on: a login yields the provider's
 * own signed ID token for the right user and client, the JWKS publishes exactly the
 * current keys (rotation replaces them), fetches are counted.
 */
import { createPublicKey, type JsonWebKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSigningJwk, startOidcProvider } from "../src/oidcProvider.js";

const part = (token: string, i: number) =>
  JSON.parse(Buffer.from(token.split(".")[i] as string, "base64url").toString());

async function jwks(url: string): Promise<{ keys: { kid: string; d?: string }[] }> {
  return (await fetch(url)).json() as Promise<{ keys: { kid: string; d?: string }[] }>;
}

describe("startOidcProvider", () => {
  it("logs a user in and returns an ID token signed by the published key", async () => {
    const op = await startOidcProvider({ alg: "ES256", idTokenTtlS: 120 });
    try {
      const token = await op.login("alice");
      const header = part(token, 0);
      const claims = part(token, 1);
      expect(header.alg).toBe("ES256");
      expect(claims).toMatchObject({
        iss: op.issuer,
        aud: op.clientId,
        sub: "alice",
        preferred_username: "alice",
        email: "alice@localhost",
        email_verified: true,
      });
      expect(claims.exp - claims.iat).toBe(120);
      const published = await jwks(op.jwksUrl);
      expect(published.keys.map((k) => k.kid)).toEqual([header.kid]);
      expect(published.keys[0]?.d).toBeUndefined();
      const [h, p, sig] = token.split(".") as [string, string, string];
      const key = createPublicKey({ key: published.keys[0] as JsonWebKey, format: "jwk" });
      const ok = verify(
        "sha256",
        Buffer.from(`${h}.${p}`),
        { key, dsaEncoding: "ieee-p1363" },
        Buffer.from(sig, "base64url"),
      );
      expect(ok).toBe(true);
      expect(op.jwksFetches()).toBe(1);
      expect(part(await op.login("bob", op.otherClientId), 1).aud).toBe(op.otherClientId);
    } finally {
      await op.close();
    }
  });

  it("rotates to a new key, signs with given keys, and reports a refused login", async () => {
    const given = generateSigningJwk("EdDSA");
    const op = await startOidcProvider({
      jwks: { keys: [given] },
      claims: (id) => ({ email: `${id}@example.org` }),
    });
    try {
      const first = await op.login("carol");
      expect(part(first, 0).kid).toBe(given.kid);
      expect(part(first, 1).email).toBe("carol@example.org");
      op.rotateKeys("RS256");
      const second = await op.login("carol");
      expect(part(second, 0)).toMatchObject({ alg: "RS256" });
      expect((await jwks(op.jwksUrl)).keys.map((k) => k.kid)).toEqual([part(second, 0).kid]);
      expect(op.privateJwks().keys[0]?.kid).toBe(part(second, 0).kid);
      await expect(op.login("carol", "no-such-client")).rejects.toThrow(/login/);
    } finally {
      await op.close();
    }
  });
});
