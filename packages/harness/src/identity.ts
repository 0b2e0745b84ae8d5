/**
 * The simulation's identity provider (DESIGN §10). The world creates every device for one
 * user and binds the device key to that user here; as the hub's `Authenticator` it answers
 * a session for the user its device is bound to and refuses one that claims anyone else,
 * or a key nobody bound. Development mode's self-naming would not do: an impostor could
 * then legitimately be alice, and no invariant could tell the attack from the owner.
 *
 * The same bindings are the ground truth of the identity invariants
 * (invariants/identityChecks.ts): a leaf under a user's name must be held by a device bound
 * to that user, whatever the hub or a client was told.
 */
import { deriveSenderId } from "@kalandra/proto";
import type { Authenticator, AuthRequest, AuthVerdict } from "@kalandra/server";

/** The `auth.method` a simulated device presents (none: the hub asks this provider). */
export const SIM_AUTH_METHOD = "dev";

export class SimIdentity implements Authenticator {
  readonly method = SIM_AUTH_METHOD;
  /** sender_id (derived from the device key) → the user the world created the device for. */
  readonly #owners = new Map<bigint, string>();
  /** Every verdict given, in order (what the hub was told; tests and traces read it). */
  readonly verdicts: { senderId: bigint; claimed: string; verdict: AuthVerdict }[] = [];

  /**
   * Binds a device key to its user. A key is bound once: binding it to another user is a
   * bug in the scenario (throws).
   */
  bind(deviceKey: Uint8Array, userId: string): bigint {
    const senderId = deriveSenderId(deviceKey);
    const prev = this.#owners.get(senderId);
    if (prev !== undefined && prev !== userId) {
      throw new Error(`device ${senderId.toString(16)} is already bound to ${prev}`);
    }
    this.#owners.set(senderId, userId);
    return senderId;
  }

  /** The user a device was created for; undefined for a key the world never bound. */
  ownerOf(senderId: bigint): string | undefined {
    return this.#owners.get(senderId);
  }

  async authenticate(req: AuthRequest): Promise<AuthVerdict> {
    const verdict = this.#judge(req);
    this.verdicts.push({ senderId: req.senderId, claimed: req.claimedUserId, verdict });
    return verdict;
  }

  #judge(req: AuthRequest): AuthVerdict {
    const owner = this.#owners.get(deriveSenderId(req.deviceKey));
    if (owner === undefined) {
      return { ok: false, code: "UNAUTHENTICATED", message: "no user holds this device key" };
    }
    if (req.claimedUserId !== "" && req.claimedUserId !== owner) {
      return {
        ok: false,
        code: "FORBIDDEN",
        message: `this device speaks for ${owner}, not ${req.claimedUserId}`,
      };
    }
    return { ok: true, userId: owner };
  }
}
