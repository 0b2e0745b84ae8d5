/**
 * The "device_link" method (DESIGN §10): a user's further device presents a link signed by
 * one of the user's active devices (proto/src/deviceLink.ts has the format). The hub checks
 * that the link names the presenting device, that its signer is registered, unrevoked and
 * bound to the user the link names, the signature, the expiry (and that the link does not
 * outlive `auth.device_link_ttl_s`), and uses its nonce once.
 */
import {
  bytesEqual,
  type DeviceLink,
  decodeDeviceLink,
  deriveSenderId,
  deviceLinkSignatureValid,
} from "@kalandra/proto";
import type { IdentityStorage } from "../storage/types.js";
import type { Authenticator, AuthRequest, AuthVerdict } from "./authenticator.js";

const failed = (message: string): AuthVerdict => ({ ok: false, code: "AUTH_FAILED", message });

export function deviceLinkAuthenticator(
  storage: IdentityStorage,
  maxTtlSeconds: number,
): Authenticator {
  return {
    method: "device_link",
    async authenticate(req: AuthRequest): Promise<AuthVerdict> {
      let link: DeviceLink;
      try {
        link = decodeDeviceLink(req.credential ?? new Uint8Array());
      } catch {
        return failed("not a device link");
      }
      if (!bytesEqual(link.device_key, req.deviceKey))
        return failed("the link names another device");
      const signer = storage.getDevice(deriveSenderId(link.signer_key));
      if (
        signer === undefined ||
        signer.revokedAt !== undefined ||
        !bytesEqual(signer.deviceKey, link.signer_key) ||
        signer.userId !== link.user_id
      ) {
        return failed("the link is not signed by an active device of its user");
      }
      if (!deviceLinkSignatureValid(link)) return failed("the link's signature does not verify");
      if (link.expires_at < req.nowSeconds) {
        return { ok: false, code: "CODE_EXPIRED", message: "the device link has expired" };
      }
      if (link.expires_at - req.nowSeconds > BigInt(maxTtlSeconds)) {
        return failed(`a device link may live at most ${maxTtlSeconds} s`);
      }
      if (!(await storage.useNonce(link.nonce, link.expires_at, req.nowSeconds))) {
        return { ok: false, code: "CODE_EXPIRED", message: "the device link was used already" };
      }
      return { ok: true, userId: link.user_id };
    },
  };
}
