/**
 * The app's OIDC sign-in (src/oidc.ts) against a real OpenID provider (oidc-provider, from
 * @kalandra/test-support/oidc): the login URL it builds is accepted, the code comes back,
 * PKCE and state check out, and the ID token names the user the hub will derive.
 */
import { randomBytes, webcrypto } from "node:crypto";
import {
  authorize,
  OIDC_REDIRECT_URI,
  startOidcProvider,
  type TestOidcProvider,
} from "@kalandra/test-support/oidc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  base64url,
  finishLogin,
  jwtClaims,
  loginUrl,
  type OidcEnv,
  OidcError,
  userIdFromToken,
} from "../src/oidc.js";

const REDIRECT = OIDC_REDIRECT_URI;

let op: TestOidcProvider;
beforeAll(async () => {
  op = await startOidcProvider();
});
afterAll(() => op.close());

function env(): OidcEnv & { saved: Map<string, string> } {
  const saved = new Map<string, string>();
  return {
    saved,
    fetch: (input, init) => fetch(input, init),
    storage: {
      getItem: (k) => saved.get(k) ?? null,
      setItem: (k, v) => void saved.set(k, v),
      removeItem: (k) => void saved.delete(k),
    },
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
    sha256: async (d) => new Uint8Array(await webcrypto.subtle.digest("SHA-256", d)),
  };
}

describe("OIDC sign-in", () => {
  it("logs in with the authorization code flow and PKCE; the token names alice@domain", async () => {
    const e = env();
    const settings = { issuer: op.issuer, clientId: op.clientId, userClaim: "sub" };
    const start = await loginUrl(e, settings, REDIRECT);
    expect(new URL(start).searchParams.get("code_challenge_method")).toBe("S256");
    const back = await authorize(start, "alice");
    const token = await finishLogin(e, settings, REDIRECT, back.search);
    expect(token).toBeDefined();
    expect(jwtClaims(token as string).aud).toBe(op.clientId);
    expect(userIdFromToken(token as string, "sub", "localhost")).toBe("alice@localhost");
    expect(e.saved.size).toBe(0); // the pending login is spent
    // The same answer again is not a login (nothing pending).
    expect(await finishLogin(e, settings, REDIRECT, back.search)).toBeUndefined();
  });

  it("refuses a redirect whose state is not the one it sent", async () => {
    const e = env();
    const settings = { issuer: op.issuer, clientId: op.clientId, userClaim: "sub" };
    const back = await authorize(await loginUrl(e, settings, REDIRECT), "bob");
    back.searchParams.set("state", "forged");
    await expect(finishLogin(e, settings, REDIRECT, back.search)).rejects.toThrow(OidcError);
  });

  it("an issuer without discovery, a token without the claim, and a non-JWT are typed errors", async () => {
    const e = env();
    const missing = { issuer: `${op.issuer}/nope`, clientId: op.clientId, userClaim: "sub" };
    await expect(loginUrl(e, missing, REDIRECT)).rejects.toThrow(OidcError);
    const token = `x.${base64url(new TextEncoder().encode(JSON.stringify({ sub: "carol" })))}.y`;
    expect(() => userIdFromToken(token, "email", "localhost")).toThrow(OidcError);
    expect(userIdFromToken(token, "sub", "example.org")).toBe("carol@example.org");
    expect(() => jwtClaims("nodots")).toThrow(OidcError);
  });
});
