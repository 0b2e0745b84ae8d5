/**
 * Who a session's device speaks for (DESIGN §10): the authenticators a hub enabled, each
 * answering one `auth.method`, and the device registry that binds a device to the first
 * user it authenticated as, for good. The session (session/handshake.ts) calls this once
 * the device has proved its key; the verdict's user is the session's for its life.
 *
 * Rules, in order: a revoked device never authenticates again (DEVICE_REVOKED); a bound
 * device presenting nothing authenticates by its key alone, as its user, unless the method
 * that bound it asks for its credential on every session (OpenID tokens: AUTH_FAILED) (HELLO's claim must
 * name that user, else DEVICE_TAKEN: the binding was made by an authenticator and never
 * changes); otherwise HELLO's `auth.method` picks the authenticator (none = "dev" when enabled, else AUTH_FAILED;
 * unknown = UNKNOWN_AUTH_METHOD); its user id must be printable and bounded
 * (INVALID_USER_ID); a device bound to another user is refused (DEVICE_TAKEN); a new
 * device is bound unless its user has `maxDevicesPerUser` active ones (TOO_MANY_DEVICES).
 *
 * @example
 * const auth = new Authentication({ storage, authenticators: [devAuthenticator], maxDevicesPerUser: 10 });
 * await auth.authenticate({ deviceKey, senderId, claimedUserId: "alice", nowSeconds });
 */
import { canary } from "@kalandra/proto";
import type { IdentityStorage } from "../storage/types.js";
import type { Authenticator, AuthRequest, AuthVerdict } from "./authenticator.js";
import { userIdProblem } from "./userId.js";

export interface AuthenticationOptions {
  storage: IdentityStorage;
  authenticators: readonly Authenticator[];
  maxDevicesPerUser: number;
}

const refuse = (
  code: Extract<AuthVerdict, { ok: false }>["code"],
  message: string,
): AuthVerdict => ({
  ok: false,
  code,
  message,
});

export class Authentication {
  private readonly byMethod = new Map<string, Authenticator>();

  constructor(private readonly o: AuthenticationOptions) {
    for (const a of o.authenticators) this.byMethod.set(a.method, a);
  }

  /** The methods this hub answers, e.g. ["dev"] or ["enrollment", "device_link"]. */
  get methods(): string[] {
    return [...this.byMethod.keys()];
  }

  /** Whether a HELLO without `auth` is answered (development mode). */
  get selfNamed(): boolean {
    return this.byMethod.has("dev");
  }

  async authenticate(req: AuthRequest): Promise<AuthVerdict> {
    const storage = this.o.storage;
    const known = storage.getDevice(req.senderId);
    if (known?.revokedAt !== undefined) return refuse("DEVICE_REVOKED", "this device was revoked");
    if (known !== undefined && req.method === undefined) {
      const binder = known.boundBy === undefined ? undefined : this.byMethod.get(known.boundBy);
      if (binder?.everySession === true) {
        return refuse("AUTH_FAILED", `this device presents a fresh ${binder.method} credential`);
      }
      return this.sameUser(known.userId, req.claimedUserId);
    }
    // canary: simulation-only planted bug (DESIGN §8), HELLO's claim names the user.
    if (canary("auth_trusts_claim")) return { ok: true, userId: req.claimedUserId };
    const method = req.method ?? "dev";
    const authenticator = this.byMethod.get(method);
    if (authenticator === undefined) {
      return req.method === undefined
        ? refuse("AUTH_FAILED", `HELLO must present auth (methods: ${this.methods.join(", ")})`)
        : refuse("UNKNOWN_AUTH_METHOD", `this hub answers ${this.methods.join(", ")}`);
    }
    let verdict: AuthVerdict;
    try {
      verdict = await authenticator.authenticate(req);
    } catch {
      return refuse("AUTH_FAILED", `the ${method} authenticator failed`);
    }
    if (!verdict.ok) return verdict;
    const problem = userIdProblem(verdict.userId);
    if (problem !== undefined) return refuse("INVALID_USER_ID", problem);
    if (known !== undefined) return this.sameUser(known.userId, verdict.userId);
    const gate = req.beforeBind?.(verdict.userId);
    if (gate !== undefined && !gate.ok) return gate;
    const bound = await storage.bindDevice(
      {
        senderId: req.senderId,
        deviceKey: req.deviceKey,
        userId: verdict.userId,
        boundAt: req.nowSeconds,
        boundBy: method,
      },
      this.o.maxDevicesPerUser,
    );
    switch (bound.kind) {
      case "bound":
        return verdict;
      case "too_many":
        return refuse(
          "TOO_MANY_DEVICES",
          `the user has ${this.o.maxDevicesPerUser} active devices: revoke one first`,
        );
      case "existing":
        // Bound meanwhile by a concurrent session of the same key.
        if (bound.device.revokedAt !== undefined) {
          return refuse("DEVICE_REVOKED", "this device was revoked");
        }
        return this.sameUser(bound.device.userId, verdict.userId);
    }
  }

  private sameUser(bound: string, authenticated: string): AuthVerdict {
    return bound === authenticated
      ? { ok: true, userId: bound }
      : refuse("DEVICE_TAKEN", "this device key is bound to another user");
  }
}
