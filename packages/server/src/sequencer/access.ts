/**
 * Who may enter a room and who may change who is in it (DESIGN §10; docs/protocol.md "Room
 * access"), as pure judgments over the room's group and policy (roomPolicy.ts), beside the
 * sequencing rules of rules.ts:
 *
 * - GroupInfo and external joins: current members (a user with a leaf, resyncing its own)
 *   and, for everyone else, an unexpired invite or an open room that admits the user's
 *   domain. Anyone else gets NO_ACCESS, the answer an unknown room gets too, so an outsider
 *   learns neither that the room exists nor its members or epoch.
 * - An external commit adds a leaf naming the session's user and removes only that user's
 *   own leaves (resync); it uses up the user's invite.
 * - Adds by commit: any member may add (MLS lets any member share the group anyway); the
 *   added users' invites are used up. Removing another user's leaf (a Remove proposal or a
 *   commit's own removals) is for room admins; committing removals already pending (the
 *   hub's kick, a member's leave) is for any member.
 */
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import type { GroupMember, GroupView } from "./groupView.js";
import { isRoomAdmin, mayJoin, type RoomPolicy } from "./roomPolicy.js";
import type { PendingProposal } from "./roomState.js";

/** What the access judgments see of a room. */
export interface AccessFacts {
  readonly group: GroupView;
  readonly policy: RoomPolicy;
}

/** The one answer to an outsider, whether or not the room exists. */
export const NO_ACCESS_MESSAGE = "no access to this room";
export const noAccess = (): Refusal => refuse("NO_ACCESS", NO_ACCESS_MESSAGE);

/** True when one of the user's devices holds a leaf in the group. */
export function isMemberUser(group: GroupView, userId: string): boolean {
  return group.members().some((m) => m.userId === userId);
}

/**
 * GROUP_INFO_FETCH and EXTERNAL_COMMIT: for members, invited users and, in an open room,
 * users of an allowed domain. `userId` is the session's authenticated user.
 */
export function judgeJoinAccess(
  room: AccessFacts,
  userId: string | undefined,
  nowSeconds: bigint,
): Refusal | undefined {
  if (userId === undefined) return noAccess();
  if (isMemberUser(room.group, userId) || mayJoin(room.policy, userId, nowSeconds)) {
    return undefined;
  }
  return noAccess();
}

/**
 * An accepted-looking external commit: its new leaf names the session's user, and every
 * leaf it removes is that user's own (a resync, RFC 9420 §12.4.3.2).
 */
export function judgeExternalJoiner(
  before: GroupView,
  next: GroupView,
  senderId: bigint,
  userId: string | undefined,
): Refusal | undefined {
  const joiner = next.memberBySenderId(senderId);
  if (joiner === undefined || userId === undefined || joiner.userId !== userId) {
    return refuse("FORBIDDEN", "the joining leaf must name the session's user");
  }
  const foreign = removedMembers(before, next).find((m) => m.userId !== userId);
  if (foreign !== undefined) {
    return refuse("FORBIDDEN", "an external commit removes only its user's own leaves");
  }
  return undefined;
}

/**
 * A member's commit: leaves it removes by its own Remove proposals (not by reference to a
 * pending one) belong to the committer's user unless the committer is a room admin.
 */
export function judgeCommitRemovals(
  room: AccessFacts,
  committer: GroupMember,
  next: GroupView,
  pending: readonly PendingProposal[],
): Refusal | undefined {
  const byReference = new Set(pending.map((p) => p.removedLeaf));
  const own = removedMembers(room.group, next).filter(
    (m) => !byReference.has(m.leaf) && m.userId !== committer.userId,
  );
  if (own.length === 0 || isRoomAdmin(room.policy, committer.userId, true)) return undefined;
  return refuse("FORBIDDEN", "only room admins remove other users");
}

/** A member's Remove proposal of another user's leaf: room admins only. */
export function judgeRemovalProposal(
  room: AccessFacts,
  proposer: GroupMember,
  removedLeaf: number | undefined,
): Refusal | undefined {
  if (removedLeaf === undefined) return undefined;
  const target = room.group.members().find((m) => m.leaf === removedLeaf);
  if (target === undefined || target.userId === proposer.userId) return undefined;
  if (isRoomAdmin(room.policy, proposer.userId, true)) return undefined;
  return refuse("FORBIDDEN", "only room admins remove other users");
}

/** Users who hold a leaf after the commit and held none before (their invites are used). */
export function joinedUsers(before: GroupView, next: GroupView): string[] {
  const had = new Set(before.members().map((m) => m.userId));
  return [...new Set(next.members().map((m) => m.userId))].filter((u) => !had.has(u));
}

/** Members of `before` whose leaf is gone (or holds another device) in `next`. */
function removedMembers(before: GroupView, next: GroupView): GroupMember[] {
  return before.members().filter((m) => next.memberBySenderId(m.senderId)?.leaf !== m.leaf);
}
