/**
 * The production GroupViewFactory: the sequencer's narrow GroupView over the MLS public
 * group view of packages/server/src/mls (PublicGroup). Members are cached per view (a view
 * never changes; accepted commits produce a new one), so the per-message membership check
 * of APP_MESSAGE is one map lookup.
 */
import { type Member, PublicGroup } from "../mls/index.js";
import type { CommitCheck, GroupMember, GroupView, GroupViewFactory } from "./groupView.js";

const toMember = (m: Member): GroupMember => ({
  leaf: m.leafIndex,
  senderId: m.senderId,
  userId: m.userId,
  signatureKey: m.signatureKey,
});

class PublicGroupView implements GroupView {
  private cache: GroupMember[] | undefined;
  private bySender: Map<bigint, GroupMember> | undefined;

  constructor(readonly inner: PublicGroup) {}

  get epoch(): bigint {
    return this.inner.epoch;
  }
  get treeHash(): Uint8Array {
    return this.inner.treeHash;
  }
  get groupId(): Uint8Array {
    return this.inner.groupId;
  }
  members(): GroupMember[] {
    if (this.cache === undefined) this.cache = this.inner.members().map(toMember);
    return this.cache;
  }
  memberBySenderId(senderId: bigint): GroupMember | undefined {
    if (this.bySender === undefined) {
      this.bySender = new Map(this.members().map((m) => [m.senderId, m]));
    }
    return this.bySender.get(senderId);
  }
  checkProposal(message: Uint8Array) {
    return this.inner.checkProposal(message);
  }
  checkCommit(
    commit: Uint8Array,
    groupInfo: Uint8Array,
    pendingRefs: readonly Uint8Array[],
    pendingMessages: readonly Uint8Array[],
  ): CommitCheck {
    return wrap(this.inner.checkCommit(commit, groupInfo, pendingRefs, pendingMessages));
  }
  checkExternalCommit(commit: Uint8Array, groupInfo: Uint8Array): CommitCheck {
    return wrap(this.inner.checkExternalCommit(commit, groupInfo));
  }
  encode(): Uint8Array {
    return this.inner.encode();
  }
}

function wrap(r: ReturnType<PublicGroup["checkCommit"]>): CommitCheck {
  if (!r.ok) return r;
  return {
    ok: true,
    next: new PublicGroupView(r.next),
    removedLeaves: r.removedLeaves,
    addedMembers: r.addedMembers.map(toMember),
  };
}

/**
 * Group views backed by PublicGroup. With `hubKey`, rooms must list the hub as an MLS
 * external sender (DESIGN §6) or their creation is refused.
 */
export function publicGroupViews(hubKey?: Uint8Array): GroupViewFactory {
  return {
    fromGroupInfo: (gi) => new PublicGroupView(PublicGroup.fromGroupInfo(gi, hubKey)),
    decode: (bytes) => new PublicGroupView(PublicGroup.decode(bytes)),
  };
}
