/**
 * The session handshake (docs/contracts.md "Session"): HELLO → AUTH_CHALLENGE →
 * AUTH_RESPONSE → AUTH_OK. The hub must present the key this client trusts and assign the
 * sender_id derived from the device key.
 */
import { Opcode } from "@kalandra/proto";
import type { Device } from "./device.js";
import { ClientError, expectAck } from "./errors.js";
import type { HubRequests } from "./hubLink.js";
import { fieldBytes, fieldU64, payloadOf } from "./wire.js";

export async function authenticate(
  hub: HubRequests,
  device: Device,
  hubPublicKey: Uint8Array,
): Promise<void> {
  const challenge = expectAck(
    await hub.request(Opcode.HELLO, 0n, 0n, {
      device_key: device.publicKey,
      user_id: device.userId,
      client: "kalandra-client/0.1",
    }),
  );
  const cp = payloadOf(challenge);
  if (Buffer.compare(fieldBytes(cp, "hub_key"), hubPublicKey) !== 0)
    throw new ClientError("wrong_hub", "the hub presented another key");
  const ok = expectAck(
    await hub.request(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce: fieldBytes(cp, "nonce") }),
  );
  if (fieldU64(payloadOf(ok), "sender_id") !== device.senderId)
    throw new ClientError("wrong_sender_id", "the hub assigned another sender_id");
}
