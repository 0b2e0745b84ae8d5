/**
 * How the hub learns who a session's user is (DESIGN §10). The handshake proves that the
 * peer holds the device key it names; an Authenticator decides which user that device
 * speaks for, from what HELLO presents (`auth: {method, credential}`): an OpenID Connect
 * token, an enrollment code, a device link, or nothing at all in development mode. What
 * HELLO's `user_id` merely claims grants nothing unless the authenticator says so.
 *
 * Authenticators are cores: time comes in the request, keys and storage are injected.
 */
import type { ProtocolErrorCode } from "@kalandra/proto";

/** What a session presents once it has proved possession of its device key. */
export interface AuthRequest {
  /** The device's Ed25519 public key (its frame key and MLS leaf signature key). */
  deviceKey: Uint8Array;
  senderId: bigint;
  /** HELLO's `user_id`: a claim, trusted only by the development authenticator. */
  claimedUserId: string;
  /** HELLO's `auth.method` (e.g. "oidc"), absent when HELLO presents nothing. */
  method?: string;
  /** HELLO's `auth.credential`: the token, code or link the method defines. */
  credential?: Uint8Array;
  /** Now, in seconds since the Unix epoch (the injected clock). */
  nowSeconds: bigint;
  /**
   * Asked once the authenticator named the user and before a new device is bound to it: a
   * refusal here (the session caps, `max_sessions_per_user`) binds nothing, so sessions
   * refused for their number cannot use up the user's `max_devices_per_user`.
   */
  beforeBind?(userId: string): AuthVerdict | undefined;
}

/** The user a device speaks for, or why not. */
export type AuthVerdict =
  | { ok: true; userId: string }
  | { ok: false; code: ProtocolErrorCode; message: string };

export interface Authenticator {
  /** The `auth.method` this authenticator answers ("dev" answers HELLOs without one). */
  readonly method: string;
  /**
   * A device this authenticator bound presents its credential again on every session (an
   * OpenID token expires, and the issuer may disable the account meanwhile); without it a
   * bound device authenticates by its key alone (enrollment, device links, dev).
   */
  readonly everySession?: boolean;
  authenticate(req: AuthRequest): Promise<AuthVerdict>;
}
