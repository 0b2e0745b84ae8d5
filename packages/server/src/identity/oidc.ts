/**
 * The OpenID Connect authenticator (DESIGN §10): HELLO presents `auth: {method: "oidc",
 * credential}`, the credential being a JWT (an ID token, or an RFC 9068 access token) in
 * UTF-8. The hub verifies it with jose against the issuer's keys and takes the user name
 * from one claim; the user id is `name@domain`, the domain being this hub's.
 *
 * What a token must be (OpenID Connect Core 1.0 §3.1.3.7, RFC 7519 §7.2):
 * - signed with RS256, ES256 or EdDSA by a key the issuer publishes (never `none` or a
 *   shared-secret HS* algorithm: the hub holds no secret of the issuer, and an HS* check
 *   against a public key would let anyone sign — RFC 8725 §2.1);
 * - `iss` equal to the pinned issuer, `aud` containing the pinned audience;
 * - `exp` present and not past, `nbf` (when present) not in the future, each allowing the
 *   configured clock skew;
 * - the user claim present, a printable string; with `email`, `email_verified` true.
 *
 * A core: the time comes in the request, the key resolver is injected (the Node runtime
 * fetches the JWKS, runtime/node/oidcKeys.ts). The token is checked once, at HELLO.
 */
import type { ProtocolErrorCode } from "@kalandra/proto";
import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Authenticator, AuthRequest, AuthVerdict } from "./authenticator.js";

export const OIDC_METHOD = "oidc";

/** Asymmetric algorithms only; the list jose enforces before it asks for a key. */
export const OIDC_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

/** Larger credentials are refused unread (an ID token is ~1 KiB; HELLO is small before auth). */
export const MAX_OIDC_TOKEN_BYTES = 8192;

/** Longest user name taken from a claim (in UTF-16 code units, before `@domain`). */
export const MAX_OIDC_NAME_LENGTH = 128;

export interface OidcOptions {
  /** The `iss` every token must carry, compared exactly (trailing slash included). */
  issuer: string;
  /** The value `aud` must be or contain: the client id the hub's users log in with. */
  audience: string;
  /** The issuer's verification keys by token header: a local or remote JWKS (jose). */
  keys: JWTVerifyGetKey;
  /** The claim naming the user: "sub", "preferred_username", "email", ... */
  userClaim: string;
  /** Tolerance for `exp` and `nbf`, in seconds. */
  clockSkewSeconds: number;
  /** This hub's domain: user ids are `name@domain`. */
  domain: string;
}

/** Why a token was refused; the message an ERROR frame carries says the same in words. */
export type OidcRefusal =
  | "malformed"
  | "algorithm"
  | "unknown_key"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "issuer"
  | "audience"
  | "claim"
  | "domain"
  | "keys_unavailable";

export type OidcVerdict =
  | { ok: true; userId: string }
  | { ok: false; reason: OidcRefusal; message: string };

/**
 * The error code of a refusal on the wire: AUTH_FAILED, the code for a credential an
 * authenticator does not accept, whatever the check; the message says which one failed.
 */
function codeOf(_reason: OidcRefusal): ProtocolErrorCode {
  return "AUTH_FAILED";
}

export function oidcAuthenticator(options: OidcOptions): Authenticator {
  return {
    method: OIDC_METHOD,
    everySession: true,
    async authenticate(req: AuthRequest): Promise<AuthVerdict> {
      if (req.method !== OIDC_METHOD || req.credential === undefined) {
        return {
          ok: false,
          code: codeOf("malformed"),
          message: 'oidc: HELLO must present auth {method: "oidc", credential: <JWT>}',
        };
      }
      const v = await verifyOidcToken(req.credential, req.nowSeconds, options);
      return v.ok ? v : { ok: false, code: codeOf(v.reason), message: `oidc: ${v.message}` };
    },
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Verifies one token at `nowSeconds`; never throws. */
export async function verifyOidcToken(
  credential: Uint8Array,
  nowSeconds: bigint,
  options: OidcOptions,
): Promise<OidcVerdict> {
  if (credential.length === 0 || credential.length > MAX_OIDC_TOKEN_BYTES) {
    return refuse("malformed", `token must be 1..${MAX_OIDC_TOKEN_BYTES} bytes`);
  }
  let token: string;
  try {
    token = utf8.decode(credential);
  } catch {
    return refuse("malformed", "token is not UTF-8");
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, options.keys, {
      algorithms: [...OIDC_ALGORITHMS],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockSkewSeconds,
      currentDate: new Date(Number(nowSeconds) * 1000),
      requiredClaims: ["exp"],
    }));
  } catch (e) {
    return refusalOf(e);
  }
  return userIdOf(payload, options);
}

/** The user id a verified token names, or why it names none. */
export function userIdOf(
  payload: JWTPayload,
  { userClaim, domain }: Pick<OidcOptions, "userClaim" | "domain">,
): OidcVerdict {
  const value = payload[userClaim];
  if (typeof value !== "string" || value === "") {
    return refuse("claim", `the token has no string claim "${userClaim}"`);
  }
  // An unverified address is whatever the user typed at the provider.
  if (userClaim === "email" && payload.email_verified !== true) {
    return refuse("claim", "email_verified is not true");
  }
  const at = value.lastIndexOf("@");
  const name = at < 0 ? value : value.slice(0, at);
  // A claim with a domain must name this hub's: another domain's users are another
  // hub's to vouch for (docs/operations.md, "OpenID Connect").
  if (at >= 0 && value.slice(at + 1).toLowerCase() !== domain.toLowerCase()) {
    return refuse("domain", `"${userClaim}" is not in this hub's domain ${domain}`);
  }
  if (!NAME.test(name) || name.length > MAX_OIDC_NAME_LENGTH) {
    return refuse(
      "claim",
      `"${userClaim}" must be 1..${MAX_OIDC_NAME_LENGTH} printable characters without spaces or @`,
    );
  }
  return { ok: true, userId: `${name}@${domain}` };
}

/** Printable, no separators (spaces), no `@`: one name. */
const NAME = /^[^\p{C}\p{Z}@]+$/u;

function refuse(reason: OidcRefusal, message: string): OidcVerdict {
  return { ok: false, reason, message };
}

/** Maps jose's errors (and the key resolver's) to a refusal. */
function refusalOf(e: unknown): OidcVerdict {
  if (e instanceof errors.JWTExpired) return refuse("expired", "token expired");
  if (e instanceof errors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case "iss":
        return refuse("issuer", "token is from another issuer");
      case "aud":
        return refuse("audience", "token is for another audience");
      case "nbf":
        return refuse("not_yet_valid", "token is not valid yet (nbf)");
      default:
        return refuse("claim", `claim "${e.claim}": ${e.reason}`);
    }
  }
  if (e instanceof errors.JOSEAlgNotAllowed) {
    return refuse("algorithm", `algorithm not allowed (only ${OIDC_ALGORITHMS.join(", ")})`);
  }
  if (e instanceof errors.JWKSNoMatchingKey) {
    return refuse("unknown_key", "no key of the issuer matches the token");
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return refuse("signature", "signature verification failed");
  }
  if (
    e instanceof errors.JWSInvalid ||
    e instanceof errors.JWTInvalid ||
    e instanceof errors.JOSENotSupported ||
    e instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return refuse("malformed", e.message);
  }
  // The resolver could not produce keys: the JWKS endpoint failed, timed out or answered
  // something that is not a key set. Not the client's fault, but no key, no user.
  return refuse("keys_unavailable", "the issuer's keys are unavailable");
}
