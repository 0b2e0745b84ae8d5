/**
 * The device's Welcome inbox at the hub (issue 12, docs/client.md "Invitations"): the hub
 * keeps every Welcome for this device until the device acknowledges it (WELCOME_ACK) and
 * delivers the waiting ones after each AUTH_OK, so a device that was offline when it was
 * added joins on its next connection. INVITES_LIST asks which are waiting.
 */
import { Opcode } from "@kalandra/proto";
import { expectAck } from "./errors.js";
import type { HubRequests } from "./hubLink.js";
import { fieldArray, fieldBytes, fieldU64, payloadOf } from "./wire.js";

/** A Welcome waiting for this device at the hub: the room it joins and until when it waits. */
export interface Invitation {
  roomId: bigint;
  /** The epoch the Welcome joins. */
  epoch: bigint;
  /** log_index of the commit that added this device. */
  logIndex: bigint;
  /** Seconds since the Unix epoch when the hub erases it. */
  expiresAt: bigint;
}

/** "Rooms I was invited to": the Welcomes the hub keeps for this device, oldest first. */
export async function listInvitations(hub: HubRequests): Promise<Invitation[]> {
  const resp = expectAck(await hub.request(Opcode.INVITES_LIST, 0n, 0n, {}));
  return fieldArray(payloadOf(resp), "invites").map((x) => {
    const i = x as Record<string, unknown>;
    return {
      roomId: u128(fieldBytes(i, "room_id")),
      epoch: fieldU64(i, "epoch"),
      logIndex: fieldU64(i, "log_index"),
      expiresAt: fieldU64(i, "expires_at"),
    };
  });
}

/**
 * Tells the hub the Welcome of (room, log_index) was dealt with (joined, or of no use to
 * this device), so it is not delivered again. Sent once the outcome is persisted.
 */
export async function acknowledgeWelcome(
  hub: HubRequests,
  roomId: bigint,
  logIndex: bigint,
): Promise<void> {
  expectAck(await hub.request(Opcode.WELCOME_ACK, roomId, 0n, { log_index: logIndex }));
}

function u128(b: Uint8Array): bigint {
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return v;
}
