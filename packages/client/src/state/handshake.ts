/**
 * The session handshake (docs/contracts.md "Session"): HELLO → AUTH_CHALLENGE →
 * AUTH_RESPONSE → AUTH_OK. The hub must present the key this client trusts, assign the
 * sender_id derived from the device key, and have authenticated the device as the user its
 * credential names (AUTH_OK `user_id`, DESIGN §10).
 */
import { bytesEqual, Opcode } from "@kalandra/proto";
import type { Device } from "./device.js";
import { ClientError, expectAck } from "./errors.js";
import type { HelloAuthProvider } from "./helloAuth.js";
import type { HubRequests } from "./hubLink.js";
import { fieldBytes, fieldNumber, fieldU64, payloadOf } from "./wire.js";

export async function authenticate(
  hub: HubRequests,
  device: Device,
  hubPublicKey: Uint8Array,
  auth?: HelloAuthProvider,
): Promise<{ pingMs: number | undefined }> {
  const presented = auth?.();
  const challenge = expectAck(
    await hub.request(Opcode.HELLO, 0n, 0n, {
      device_key: device.publicKey,
      user_id: device.userId,
      client: "kalandra-client/0.1",
      ...(presented === undefined ? {} : { auth: presented }),
    }),
  );
  const cp = payloadOf(challenge);
  if (!bytesEqual(fieldBytes(cp, "hub_key"), hubPublicKey))
    throw new ClientError("wrong_hub", "the hub presented another key");
  const ok = expectAck(
    await hub.request(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce: fieldBytes(cp, "nonce") }),
  );
  const okPayload = payloadOf(ok);
  if (fieldU64(okPayload, "sender_id") !== device.senderId)
    throw new ClientError("wrong_sender_id", "the hub assigned another sender_id");
  if (okPayload.user_id !== device.userId)
    throw new ClientError("wrong_user", "the hub authenticated this device as another user");
  // How often the hub asks to be pinged (docs/protocol.md "Keep-alive"); absent = not said.
  return {
    pingMs: okPayload.ping_ms === undefined ? undefined : fieldNumber(okPayload, "ping_ms"),
  };
}
