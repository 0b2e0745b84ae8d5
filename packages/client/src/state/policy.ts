/**
 * A room's access policy as the client sees it (docs/protocol.md "Room access"): read from
 * the hub (ROOM_POLICY_FETCH) or known from creation, then kept current by applying the
 * sequenced ROOM_POLICY frames in log order with proto's `applyRoomPolicyChange` — the
 * same function the hub applies them with, after judging them.
 */
import {
  decodePayload,
  type JoinRule,
  Opcode,
  type RoomPolicy,
  type RoomRole,
  roomPolicyFromState,
  roomRoleOf,
} from "@kalandra/proto";

export type { JoinRule, RoomRole };
/** Roles, join rule and invites of a room (invites past `expires_at` are void). */
export type RoomPolicyView = RoomPolicy;

/** Decodes a ROOM_POLICY_STATE payload (strict schema). */
export function decodePolicyState(payload: Uint8Array): RoomPolicyView {
  return roomPolicyFromState(decodePayload(Opcode.ROOM_POLICY_STATE, payload));
}

/** A member's role under the policy. */
export function roleIn(v: RoomPolicyView, userId: string): RoomRole {
  return roomRoleOf(v, userId, true) ?? "member";
}
