/**
 * A real OpenID provider (`oidc-provider`) on loopback, for tests of the hub's OIDC
 * authenticator: users log in through the authorization-code flow with PKCE, driven by
 * plain HTTP requests (a tiny interaction that logs in whoever `login_hint` names and
 * grants the requested scopes), and get the provider's own ID token.
 *
 * The issuer's signing keys can be rotated (`rotateKeys`: a new key set, the old keys
 * gone from the JWKS), and JWKS fetches are counted, so a test can watch the hub refetch.
 *
 * @example
 * const op = await startOidcProvider();
 * const idToken = await op.login("alice");
 * // verify against op.issuer, op.clientId, op.jwksUrl
 * await op.close();
 */

import type { JsonWebKey } from "node:crypto";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type Configuration, type JWK } from "oidc-provider";

export type SigningAlg = "RS256" | "ES256" | "EdDSA";

/** A private signing key as a JWK, with the kid and alg its tokens carry. */
export type SigningJwk = JsonWebKey & { kid: string; alg: SigningAlg; use: "sig" };
export interface SigningJwks {
  keys: SigningJwk[];
}

export interface OidcProviderOptions {
  /** ID token lifetime in seconds (oidc-provider's default is 3600). */
  idTokenTtlS?: number;
  /** The signing algorithm of the provider's key (RS256 unless told). */
  alg?: SigningAlg;
  /** A private JWKS to sign with instead of a generated key (e.g. another issuer's keys). */
  jwks?: SigningJwks;
  /** The claims of an account (besides `sub`); default: preferred_username and a verified email. */
  claims?: (accountId: string) => Record<string, unknown>;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`: the `iss` of its tokens. */
  readonly issuer: string;
  readonly jwksUrl: string;
  /** The client the hub's users log in with (`aud` of their ID tokens). */
  readonly clientId: string;
  /** Another client of the same issuer: its tokens are for another audience. */
  readonly otherClientId: string;
  /** The private signing keys currently in use (to build a second issuer with the same keys). */
  privateJwks(): SigningJwks;
  /** How many times the JWKS has been fetched. */
  jwksFetches(): number;
  /** Logs `user` in (authorization code + PKCE) and returns the ID token. */
  login(user: string, clientId?: string): Promise<string>;
  /** Replaces the signing keys with a fresh key (new kid); the old ones leave the JWKS. */
  rotateKeys(alg?: SigningAlg): void;
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
/** The redirect URI every client of the test provider has registered. */
export const OIDC_REDIRECT_URI = "http://127.0.0.1/kalandra-callback";
const REDIRECT_URI = OIDC_REDIRECT_URI;
let keyCounter = 0;

/** A fresh private signing JWK with a kid unique in this process. */
export function generateSigningJwk(alg: SigningAlg = "RS256"): SigningJwk {
  const pair =
    alg === "RS256"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : alg === "ES256"
        ? generateKeyPairSync("ec", { namedCurve: "P-256" })
        : generateKeyPairSync("ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  keyCounter += 1;
  return {
    ...jwk,
    kid: `test-${alg}-${keyCounter}-${randomBytes(4).toString("hex")}`,
    alg,
    use: "sig",
  };
}

export async function startOidcProvider(
  options: OidcProviderOptions = {},
): Promise<TestOidcProvider> {
  let provider: Provider | undefined;
  let fetches = 0;
  const server = createServer((req, res) => {
    const p = provider;
    if (!p) return void res.writeHead(503).end();
    if (req.url?.startsWith("/interaction/")) {
      interact(p, req, res).catch((e: Error) => res.writeHead(500).end(e.message));
      return;
    }
    if (req.url?.startsWith("/jwks")) fetches += 1;
    p.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const issuer = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  const clientId = "kalandra";
  const otherClientId = "other-app";
  let jwks = options.jwks ?? { keys: [generateSigningJwk(options.alg)] };
  const build = () => {
    provider = new Provider(issuer, configuration(jwks, [clientId, otherClientId], options));
  };
  build();

  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    clientId,
    otherClientId,
    privateJwks: () => jwks,
    jwksFetches: () => fetches,
    login: (user, client = clientId) => login(issuer, client, user),
    rotateKeys(alg) {
      jwks = { keys: [generateSigningJwk(alg ?? options.alg)] };
      build();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** oidc-provider's storage, in memory and per provider (its default one warns on every start). */
class MemoryAdapter {
  private static readonly stores = new Map<string, Map<string, Record<string, unknown>>>();
  private readonly store: Map<string, Record<string, unknown>>;
  constructor(model: string) {
    const stores = MemoryAdapter.stores;
    this.store = stores.get(model) ?? new Map();
    stores.set(model, this.store);
  }
  async upsert(id: string, payload: Record<string, unknown>): Promise<void> {
    this.store.set(id, payload);
  }
  async find(id: string) {
    return this.store.get(id);
  }
  async findByUid(uid: string) {
    return [...this.store.values()].find((p) => p.uid === uid);
  }
  async findByUserCode(code: string) {
    return [...this.store.values()].find((p) => p.userCode === code);
  }
  async consume(id: string): Promise<void> {
    const p = this.store.get(id);
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string): Promise<void> {
    this.store.delete(id);
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, p] of this.store) if (p.grantId === grantId) this.store.delete(id);
  }
}

function configuration(
  jwks: SigningJwks,
  clientIds: string[],
  options: OidcProviderOptions,
): Configuration {
  const alg = jwks.keys[0]?.alg ?? "RS256";
  const claims =
    options.claims ??
    ((id: string) => ({
      preferred_username: id,
      email: `${id}@localhost`,
      email_verified: true,
    }));
  return {
    clients: clientIds.map((client_id) => ({
      client_id,
      token_endpoint_auth_method: "none",
      redirect_uris: [REDIRECT_URI],
      application_type: "native",
      id_token_signed_response_alg: alg,
    })),
    jwks: jwks as { keys: JWK[] },
    adapter: MemoryAdapter,
    cookies: { keys: ["test-only-cookie-key"] },
    // The scopes' claims go into the ID token itself (the hub sees no userinfo response).
    conformIdTokenClaims: false,
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["preferred_username"],
    },
    features: { devInteractions: { enabled: false } },
    ttl: {
      IdToken: options.idTokenTtlS ?? 3600,
      AccessToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, ...claims(sub) }),
    }),
  };
}

/** The interaction: log in the `login_hint` user, then grant what the client asked for. */
async function interact(p: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await p.interactionDetails(req, res);
  const params = details.params as Record<string, string>;
  if (details.prompt.name === "login") {
    await p.interactionFinished(
      req,
      res,
      { login: { accountId: params.login_hint as string } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  const grant = new p.Grant({
    accountId: details.session?.accountId as string,
    clientId: params.client_id as string,
  });
  grant.addOIDCScope(params.scope as string);
  await p.interactionFinished(
    req,
    res,
    { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true },
  );
}

/** Authorization code + PKCE over HTTP, following redirects by hand with a cookie jar. */
async function login(issuer: string, clientId: string, user: string): Promise<string> {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const auth = new URL("/auth", issuer);
  for (const [k, v] of Object.entries({
    client_id: clientId,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: "openid email profile",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
  })) {
    auth.searchParams.set(k, v);
  }
  const back = await authorize(auth.href, user);
  const code = back.searchParams.get("code");
  if (!code) throw new Error(`login refused: ${back.search}`);
  return tokenFor(issuer, clientId, code, verifier);
}

/**
 * What a browser does between an authorization URL (one of this provider's clients, with
 * `OIDC_REDIRECT_URI`) and the redirect back: logs `user` in (`login_hint`), grants, and
 * returns the redirect URL with its `code` and `state` (or `error`).
 */
export async function authorize(authorizationUrl: string, user: string): Promise<URL> {
  const jar = new Map<string, string>();
  const first = new URL(authorizationUrl);
  first.searchParams.set("login_hint", user);
  let url = first.href;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, {
      redirect: "manual",
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.get("location");
    if (!location)
      throw new Error(`login: ${res.status} without a redirect at ${url}: ${await res.text()}`);
    const next = new URL(location, url);
    if (next.href.startsWith(REDIRECT_URI)) return next;
    url = next.href;
  }
  throw new Error("login: too many redirects");
}

async function tokenFor(
  issuer: string,
  clientId: string,
  code: string,
  verifier: string,
): Promise<string> {
  const res = await fetch(new URL("/token", issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: clientId,
    }),
  });
  const body = (await res.json()) as { id_token?: string; error?: string };
  if (!body.id_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return body.id_token;
}
