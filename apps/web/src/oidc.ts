/**
 * Sign-in with the hub's OpenID Connect issuer (`auth.methods` holds "oidc"): the
 * authorization code flow with PKCE (RFC 7636) for a public client in the browser. The
 * ID token is what HELLO presents once, to bind this device to the user
 * (docs/identity.md); afterwards the device key is the credential.
 *
 * The hub checks the token (issuer, audience, signature, expiry); the page only reads the
 * claim that names the user, so that its MLS credential names the same user the hub will.
 */

export interface OidcSettings {
  issuer: string;
  clientId: string;
  userClaim: string;
}

/** What survives the redirect to the issuer and back (sessionStorage). */
interface Pending {
  verifier: string;
  state: string;
  nonce: string;
}

const PENDING_KEY = "kalandra.oidc.pending";

export class OidcError extends Error {
  override readonly name = "OidcError";
}

export interface OidcEnv {
  fetch: typeof fetch;
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  randomBytes(n: number): Uint8Array;
  sha256(data: Uint8Array): Promise<Uint8Array>;
}

export function base64url(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function discovery(
  env: OidcEnv,
  issuer: string,
): Promise<{ authorization_endpoint: string; token_endpoint: string }> {
  const res = await env.fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  if (!res.ok) throw new OidcError(`the issuer's discovery document: HTTP ${res.status}`);
  const d = (await res.json()) as Record<string, unknown>;
  if (typeof d.authorization_endpoint !== "string" || typeof d.token_endpoint !== "string")
    throw new OidcError("the issuer's discovery document has no authorization/token endpoint");
  return { authorization_endpoint: d.authorization_endpoint, token_endpoint: d.token_endpoint };
}

/** The issuer's login URL to send the browser to; remembers what the way back needs. */
export async function loginUrl(
  env: OidcEnv,
  o: OidcSettings,
  redirectUri: string,
): Promise<string> {
  const { authorization_endpoint } = await discovery(env, o.issuer);
  const pending: Pending = {
    verifier: base64url(env.randomBytes(32)),
    state: base64url(env.randomBytes(16)),
    nonce: base64url(env.randomBytes(16)),
  };
  env.storage.setItem(PENDING_KEY, JSON.stringify(pending));
  const challenge = base64url(await env.sha256(new TextEncoder().encode(pending.verifier)));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: o.clientId,
    redirect_uri: redirectUri,
    scope: "openid profile email",
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

/** The claims of a JWT's payload (not verified: the hub does that). */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (part === undefined) throw new OidcError("not a JWT");
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

/** The user id the hub derives from a token: `<claim>@<domain>` (docs/identity.md). */
export function userIdFromToken(token: string, claim: string, domain: string): string {
  const v = jwtClaims(token)[claim];
  if (typeof v !== "string" || v === "") throw new OidcError(`the token has no "${claim}" claim`);
  return v.includes("@") ? v : `${v}@${domain}`;
}

/**
 * Finishes a login when the page came back from the issuer (`?code=…&state=…`): trades the
 * code for tokens and returns the ID token; undefined when the page did not come back from
 * a login.
 */
export async function finishLogin(
  env: OidcEnv,
  o: OidcSettings,
  redirectUri: string,
  search: string,
): Promise<string | undefined> {
  const q = new URLSearchParams(search);
  const code = q.get("code");
  const raw = env.storage.getItem(PENDING_KEY);
  if (code === null || raw === null) return undefined;
  env.storage.removeItem(PENDING_KEY);
  const pending = JSON.parse(raw) as Pending;
  if (q.get("state") !== pending.state) throw new OidcError("the login's state does not match");
  const { token_endpoint } = await discovery(env, o.issuer);
  const res = await env.fetch(token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri,
      client_id: o.clientId,
      code_verifier: pending.verifier,
    }).toString(),
  });
  if (!res.ok) throw new OidcError(`the issuer refused the code: HTTP ${res.status}`);
  const tokens = (await res.json()) as { id_token?: unknown };
  if (typeof tokens.id_token !== "string") throw new OidcError("the issuer sent no ID token");
  if (jwtClaims(tokens.id_token).nonce !== pending.nonce)
    throw new OidcError("the ID token's nonce does not match");
  return tokens.id_token;
}
