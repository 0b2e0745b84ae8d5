/**
 * The sequencer's rules (DESIGN §4, §6, issue 8) as pure functions: each judges one
 * request against a snapshot of the room and returns a verdict, a `Refusal` or what the
 * accepted request changes. No storage, no sink, no clock: roomSequencer.ts applies the
 * verdict, commitPipeline.ts makes it durable. The MLS checks behind `GroupView` are
 * computations over the public group state (packages/server/src/mls), no I/O either.
 */
import {
  bytesEqual,
  canary,
  maxSequencedPayload,
  type Opcode,
  type PayloadOf,
  type ProtocolErrorCode,
} from "@kalandra/proto";
import type { BanPolicy } from "../vocabulary/bans.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import type { CheckFailure, GroupMember, GroupView } from "./groupView.js";
import type { PendingProposal } from "./roomState.js";
import { ErrorCode, type FrameHeader } from "./wire.js";

/** What the rules see of a room: its epoch, group, pending proposals and the bans. */
export interface RoomFacts {
  readonly roomId: bigint;
  readonly epoch: bigint;
  readonly group: GroupView;
  readonly pending: readonly PendingProposal[];
  readonly bans?: BanPolicy | undefined;
  /** `max_members_per_room`; no limit when absent. */
  readonly maxMembers?: number | undefined;
}

type Header = Pick<FrameHeader, "senderId" | "epoch">;

/** An accepted proposal, as the pending set records it. */
export interface ProposalVerdict {
  ref: Uint8Array;
  kind: string;
  removedLeaf: number | undefined;
}

/** An accepted commit or external commit: the group of the next epoch. */
export interface CommitVerdict {
  next: GroupView;
  /** Devices the commit's Welcome goes to: the listed recipients the commit added. */
  welcomeRecipients: bigint[];
}

export const isRefusal = <T extends object>(v: Refusal | T): v is Refusal => "code" in v;

export function removalPending(pending: readonly PendingProposal[]): boolean {
  return pending.some((p) => p.removedLeaf !== undefined);
}

/** A frame must be made in the room's epoch: older is STALE, newer is WRONG (§4). */
export function checkEpoch(frameEpoch: bigint, roomEpoch: bigint): Refusal | undefined {
  if (frameEpoch === roomEpoch) return undefined;
  const code: ProtocolErrorCode = frameEpoch < roomEpoch ? "STALE_EPOCH" : "WRONG_EPOCH";
  return refuse(code, `room is at epoch ${roomEpoch}`, roomEpoch);
}

/**
 * A room starts from its creator's epoch-0 GroupInfo, the creator being its member, and no
 * more members in its tree than `max_members_per_room` (counted from the tree, like every
 * later commit: checkRoomSize).
 */
export function judgeCreation(
  group: GroupView,
  senderId: bigint,
  deviceKey: Uint8Array,
  maxMembers?: number,
): Refusal | undefined {
  const size = group.members().length;
  if (maxMembers !== undefined && size > maxMembers) {
    return refuse("ROOM_FULL", `a room holds at most ${maxMembers} members (this one ${size})`);
  }
  if (group.epoch !== 0n) return refuse("INVALID_GROUP_INFO", "a room starts at epoch 0");
  const creator = group.memberBySenderId(senderId);
  if (creator === undefined || !bytesEqual(creator.signatureKey, deviceKey)) {
    return refuse("NOT_MEMBER", "the creator must be the group's member");
  }
  return undefined;
}

/** Application messages: members only, at the current epoch, never while a removal waits. */
export function judgeAppMessage(
  room: RoomFacts,
  h: Header,
  deviceKey?: Uint8Array,
): Refusal | undefined {
  const outsider = checkMember(room, h.senderId, deviceKey);
  if (outsider !== undefined) return outsider;
  // canary: simulation-only planted bug (DESIGN §8), the epoch check dropped.
  const stale = canary("app_epoch_check") ? undefined : checkEpoch(h.epoch, room.epoch);
  if (stale !== undefined) return stale;
  if (removalPending(room.pending)) {
    return refuse("MUST_INCLUDE_PENDING_REMOVALS", "a removal is pending; wait for its commit");
  }
  return undefined;
}

/** A member's proposal: valid against the tree, and never the Add of a banned user. */
export function judgeProposal(
  room: RoomFacts,
  h: Header,
  message: Uint8Array,
  deviceKey?: Uint8Array,
): Refusal | ProposalVerdict {
  const outsider = checkMember(room, h.senderId, deviceKey);
  if (outsider !== undefined) return outsider;
  const stale = checkEpoch(h.epoch, room.epoch);
  if (stale !== undefined) return stale;
  const check = room.group.checkProposal(message);
  if (!check.ok) return fromCheck(check, "INVALID_PROPOSAL", room.epoch);
  // An external sender's proposal is the hub's own (kick, enlisting hubs), never relayed
  // from a device: with several hubs listed, one hub's users must not speak for it here.
  if (check.proposal.externalSender !== undefined) {
    return refuse("FORBIDDEN", "only the room's hub proposes as an external sender");
  }
  if (check.proposal.type === "add" && room.bans !== undefined) {
    // No commit may add a banned user, so a pending Add of one would block the room.
    const user = check.proposal.addedUserId;
    if (user !== undefined && room.bans.isBanned(user, room.roomId)) {
      return refuse("BANNED", `${user} is banned from this room`);
    }
  }
  return { ref: check.ref, kind: check.proposal.type, removedLeaf: check.proposal.removedLeaf };
}

/** The hub's own Remove proposal (DESIGN §6): valid, and a removal of exactly `leaf`. */
export function judgeHubRemoval(
  room: RoomFacts,
  proposal: Uint8Array,
  leaf: number,
): Refusal | ProposalVerdict {
  const check = room.group.checkProposal(proposal);
  if (!check.ok) return fromCheck(check, "INVALID_PROPOSAL", room.epoch);
  if (check.proposal.removedLeaf !== leaf) {
    return refuse("INVALID_PROPOSAL", "not a removal of that leaf");
  }
  return { ref: check.ref, kind: check.proposal.type, removedLeaf: leaf };
}

/** The hub's own enlisting of other hubs as external senders (mls/hubSenders.ts). */
export function judgeHubExtensions(
  room: RoomFacts,
  proposal: Uint8Array,
): Refusal | ProposalVerdict {
  const check = room.group.checkProposal(proposal);
  if (!check.ok) return fromCheck(check, "INVALID_PROPOSAL", room.epoch);
  if (check.proposal.type !== "extensions") {
    return refuse("INVALID_PROPOSAL", "not a GroupContextExtensions proposal");
  }
  return { ref: check.ref, kind: check.proposal.type, removedLeaf: undefined };
}

/**
 * A member's commit: first valid one at the room's epoch wins, it covers every pending
 * proposal (checked by the group view against the refs) and adds no banned user.
 */
export function judgeCommit(
  room: RoomFacts,
  h: Header,
  body: PayloadOf<typeof Opcode.COMMIT>,
  deviceKey?: Uint8Array,
): Refusal | CommitVerdict {
  const outsider = checkMember(room, h.senderId, deviceKey);
  if (outsider !== undefined) return outsider;
  const stale = checkEpoch(h.epoch, room.epoch);
  if (stale !== undefined) return stale;
  const refs = room.pending.map((p) => p.ref);
  const messages = room.pending.map((p) => p.message);
  const check = room.group.checkCommit(body.commit, body.group_info, refs, messages);
  if (!check.ok) return fromCheck(check, "INVALID_COMMIT", room.epoch);
  const banned = bannedAmong(room, check.addedMembers);
  if (banned !== undefined) return refuse("BANNED", `${banned} is banned from this room`);
  const full = checkRoomSize(room, check.next);
  if (full !== undefined) return full;
  const added = new Set(check.addedMembers.map((m) => m.senderId));
  const welcomeRecipients = (body.welcome_recipients ?? []).filter((r) => added.has(r));
  return { next: check.next, welcomeRecipients };
}

/**
 * A joiner's external commit: at the current epoch, never while a removal is pending (a
 * banned member can never survive in a forked group state, DESIGN §4, §6), adding the
 * sending device itself, and not a banned user (issue 8).
 */
export function judgeExternalCommit(
  room: RoomFacts,
  h: Header,
  body: PayloadOf<typeof Opcode.EXTERNAL_COMMIT>,
  deviceKey: Uint8Array | undefined,
): Refusal | CommitVerdict {
  const stale = checkEpoch(h.epoch, room.epoch);
  if (stale !== undefined) return stale;
  if (removalPending(room.pending) && !canary("skip_pending_removal")) {
    return refuse("MUST_INCLUDE_PENDING_REMOVALS", "a removal is pending; join after it");
  }
  const check = room.group.checkExternalCommit(body.commit, body.group_info);
  if (!check.ok) return fromCheck(check, "INVALID_COMMIT", room.epoch);
  const joiner = check.addedMembers.find((m) => m.senderId === h.senderId);
  if (
    joiner === undefined ||
    (deviceKey !== undefined && !bytesEqual(joiner.signatureKey, deviceKey))
  ) {
    return refuse("SENDER_MISMATCH", "the external commit does not add the sending device");
  }
  if (bannedAmong(room, [joiner]) !== undefined) return refuse("BANNED", "banned from this room");
  const full = checkRoomSize(room, check.next);
  if (full !== undefined) return full;
  return { next: check.next, welcomeRecipients: [] };
}

/**
 * `max_members_per_room`, counted in the tree a commit leads to (its sender included), so
 * every Add counts whether or not the commit names welcome recipients, and right after a
 * restart (the tree is the room state). A commit that does not grow the room passes even
 * when a lowered limit is already exceeded.
 */
export function checkRoomSize(room: RoomFacts, next: GroupView): Refusal | undefined {
  const max = room.maxMembers;
  if (max === undefined) return undefined;
  const size = next.members().length;
  if (size <= max || size <= room.group.members().length) return undefined;
  return refuse("ROOM_FULL", `a room holds at most ${max} members`);
}

/** Only members read the room's log. */
export function judgeSync(room: RoomFacts, h: Header, deviceKey?: Uint8Array): Refusal | undefined {
  return checkMember(room, h.senderId, deviceKey, "only members read the room's log");
}

/**
 * The one membership check of a member's frame: the sender is a member of the current
 * epoch and, when the session's device key is given (the key the session verified the
 * frame against), that key is the member's leaf signature key (docs/contracts.md
 * "Identity"), so the frame is in effect verified against the leaf in the stored tree.
 */
export function checkMember(
  room: Pick<RoomFacts, "group">,
  senderId: bigint,
  deviceKey: Uint8Array | undefined,
  notMember = "sender is not a member",
): Refusal | undefined {
  const m = room.group.memberBySenderId(senderId);
  if (m === undefined) return refuse("NOT_MEMBER", notMember);
  if (deviceKey !== undefined && !bytesEqual(m.signatureKey, deviceKey)) {
    return refuse("BAD_SIGNATURE", "frame not signed by the member's leaf key");
  }
  return undefined;
}

/**
 * How many frames a SYNC_PAGE from `from` may carry: what was asked (at least one), at
 * most the page limit, and durable frames only, below `head` (issue 11: LMDB readers see a
 * batch once its transaction commits, before its fsync, and a frame past `head` may still
 * vanish in a power loss and its log_index be reused).
 */
export function syncWindow(from: bigint, limit: number, head: bigint, pageLimit: number): number {
  const max = Math.min(Math.max(limit, 1), pageLimit);
  // canary: simulation-only planted bug (DESIGN §8), the durable cap dropped.
  if (canary("sync_past_head")) return max;
  return from < head ? Math.min(max, Number(head - from)) : 0;
}

/**
 * A log entry must fit a SYNC_PAGE of its own within the frame limit, or no one could ever
 * sync past it (issue 12): payloads above `maxSequencedPayload(maxPayload)` are refused.
 */
export function checkEntrySize(payloadLength: number, maxPayload: number): Refusal | undefined {
  const largest = maxSequencedPayload(maxPayload);
  if (payloadLength <= largest) return undefined;
  return refuse(
    "PAYLOAD_TOO_LARGE",
    `a sequenced payload may hold at most ${largest} bytes (got ${payloadLength})`,
  );
}

/** Members the commit scheduler may ask: live, and not being removed. */
export function commitCandidates(
  group: GroupView,
  pending: readonly PendingProposal[],
  isLive: (senderId: bigint) => boolean,
): bigint[] {
  const removed = new Set(pending.map((p) => p.removedLeaf));
  return group
    .members()
    .filter((m) => !removed.has(m.leaf) && isLive(m.senderId))
    .map((m) => m.senderId);
}

/** A failed group-view check as a refusal: its own code when it is a protocol code. */
export function fromCheck(
  check: CheckFailure,
  fallback: ProtocolErrorCode,
  roomEpoch: bigint,
): Refusal {
  const code = Object.hasOwn(ErrorCode, check.code) ? (check.code as ProtocolErrorCode) : fallback;
  const expected = code === "STALE_EPOCH" ? (check.expected ?? roomEpoch) : check.expected;
  return refuse(code, check.message, expected);
}

/** The first added member whose user is banned here or hub-wide. */
function bannedAmong(room: RoomFacts, added: readonly GroupMember[]): string | undefined {
  const bans = room.bans;
  if (bans === undefined) return undefined;
  return added.find((m) => bans.isBanned(m.userId, room.roomId))?.userId;
}
