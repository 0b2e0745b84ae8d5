/**
 * How a room's sequencer starts (DESIGN §4, issue 3): created from its creator's epoch-0
 * GroupInfo, whose creation frame becomes log index 0, or restored after a restart exactly
 * as its last durable frame left it. `RoomSequencer.create`/`restore` build on these.
 */
import { bytesEqual, decodePayload, Opcode, roomGroupId } from "@kalandra/proto";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import type { SequencerEnv } from "./env.js";
import type { GroupView } from "./groupView.js";
import { newRoomPolicy } from "./roomPolicy.js";
import { decodeRoomState, encodeRoomState, type RoomState } from "./roomState.js";
import { checkEntrySize, isRefusal, judgeCreation } from "./rules.js";
import { type ParsedFrame, ProtocolError, readHlc } from "./wire.js";

/** Everything a sequencer starts from. */
export interface RoomStart {
  roomId: bigint;
  state: RoomState;
  group: GroupView;
  /** Next log_index to assign. */
  next: bigint;
  /** HLC stamp of the last durable frame (app messages advance it without a state write). */
  lastHlc?: bigint;
}

/** Checks a ROOM_CREATE and stores the new room's metadata and epoch-0 state. */
export async function createRoom(
  env: SequencerEnv,
  frame: ParsedFrame,
  deviceKey: Uint8Array,
  creator?: string,
): Promise<{ ok: true; start: RoomStart } | { ok: false; refusal: Refusal }> {
  const h = frame.header;
  // The creation is the room's first log entry: it must fit a page like any other.
  const tooLarge = checkEntrySize(frame.payload.length, env.limits.maxPayload);
  if (tooLarge !== undefined) return { ok: false, refusal: tooLarge };
  const { group_info, join_rule, allowed_domains } = decodePayload(
    Opcode.ROOM_CREATE,
    frame.payload,
  );
  let group: GroupView;
  try {
    group = env.groups.fromGroupInfo(group_info);
  } catch (e) {
    return { ok: false, refusal: refuse("INVALID_GROUP_INFO", String((e as Error).message)) };
  }
  const refused = judgeCreation(group, h.senderId, deviceKey, env.limits.maxMembersPerRoom);
  if (refused !== undefined) return { ok: false, refusal: refused };
  // One GroupInfo opens one room: its group id is the room id (issue 12).
  if (group.groupId !== undefined && !bytesEqual(group.groupId, roomGroupId(h.roomId))) {
    return {
      ok: false,
      refusal: refuse("INVALID_GROUP_INFO", "the group id is not the room id (roomGroupId)"),
    };
  }
  // The creator owns the room: the session's user (its leaf is checked to be the sender's).
  const owner = creator ?? group.memberBySenderId(h.senderId)?.userId ?? "";
  const policy = newRoomPolicy(owner, join_rule, allowed_domains);
  if (isRefusal(policy)) return { ok: false, refusal: policy };
  const state: RoomState = {
    epoch: 0n,
    group: group.encode(),
    groupInfo: new Uint8Array(group_info),
    pending: [],
    hlc: 0n,
    policy,
  };
  await env.storage.putRoom(
    {
      roomId: h.roomId,
      createdAt: env.clock.now(),
      settings: {},
      ...(creator === undefined ? {} : { creator }),
    },
    encodeRoomState(state),
  );
  return {
    ok: true,
    start: { roomId: h.roomId, state, group, next: env.storage.nextIndex(h.roomId) },
  };
}

/** Reads a room back from storage (restart). */
export function restoreRoom(env: SequencerEnv, roomId: bigint): RoomStart {
  const bytes = env.storage.getRoomState(roomId);
  if (bytes === undefined) throw new ProtocolError("UNKNOWN_ROOM", `room ${roomId} has no state`);
  const state = decodeRoomState(bytes);
  const next = env.storage.nextIndex(roomId);
  const start: RoomStart = { roomId, state, group: env.groups.decode(state.group), next };
  const last = next > 0n ? env.storage.readRange(roomId, next - 1n, 1)[0] : undefined;
  if (last !== undefined) start.lastHlc = readHlc(last.header);
  return start;
}
