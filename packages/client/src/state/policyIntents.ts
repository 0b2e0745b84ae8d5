/**
 * What the application asks of a room's access policy (docs/protocol.md "Room access"):
 * invite, revoke, set a role or the join rule (ROOM_POLICY, sequenced: the change reaches
 * this device's room view as it reaches every member's, by the log), and read the policy
 * (ROOM_POLICY_FETCH, members only). Refusals arrive as `HubError` (FORBIDDEN for a
 * member who is not an admin, NO_ACCESS for a non-member).
 */
import { Flag, Opcode, type PayloadOf } from "@kalandra/proto";
import type { ClientContext } from "./context.js";
import { expectAck, hubError } from "./errors.js";
import { decodePolicyState, type RoomPolicyView } from "./policy.js";
import { liveRoom, type Room } from "./room.js";

export type PolicyChange = PayloadOf<typeof Opcode.ROOM_POLICY>;

export class PolicyIntents {
  readonly #c: ClientContext;

  constructor(context: ClientContext) {
    this.#c = context;
  }

  #room(roomId: bigint): Room {
    return liveRoom(this.#c.rooms, roomId);
  }

  /** Sends one change; resolves with its log_index once this room view applied it. */
  async change(roomId: bigint, change: PolicyChange): Promise<bigint> {
    const room = this.#room(roomId);
    const frame = this.#c.hub.frame(
      Opcode.ROOM_POLICY,
      roomId,
      room.epoch,
      change as Record<string, unknown>,
    );
    const resp = await this.#c.hub.send(frame);
    if ((resp.header.flags & Flag.ERROR) !== 0) throw hubError(resp);
    await this.#c.run(() => this.#c.sync.acceptOwn(room, frame, resp));
    await this.#c.sync.waitApplied(room, resp.header.logIndex);
    return resp.header.logIndex;
  }

  /** Reads the room's policy from the hub and keeps it as the room view's policy. */
  async fetch(roomId: bigint): Promise<RoomPolicyView> {
    const room = this.#room(roomId);
    const resp = expectAck(
      await this.#c.hub.request(Opcode.ROOM_POLICY_FETCH, roomId, room.epoch, {}),
    );
    const policy = decodePolicyState(resp.payload);
    await this.#c.run(async () => {
      room.policy = policy;
      await this.#c.persist(room, false);
    });
    return policy;
  }
}
