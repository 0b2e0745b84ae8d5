/**
 * The development authenticator (DESIGN §10): users name themselves, HELLO's `user_id` is
 * taken as it is (checked by identity/userId.ts). It proves nothing, so kalandrad allows it
 * only when every listener is on loopback and logs a warning at start (config/load.ts). The device registry still binds each device to the first name it
 * used: a key that spoke for bob never speaks for alice, here too.
 */
import type { Authenticator, AuthRequest, AuthVerdict } from "./authenticator.js";

export const devAuthenticator: Authenticator = {
  method: "dev",
  async authenticate(req: AuthRequest): Promise<AuthVerdict> {
    return { ok: true, userId: req.claimedUserId };
  },
};
