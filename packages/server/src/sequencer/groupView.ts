/**
 * What the sequencer needs from the hub's public view of an MLS group (packages/server/src/mls,
 * `PublicGroup`): epoch, members with their leaf signature keys, and the checks of proposals
 * and commits against the ratchet tree (RFC 9420 §12.4, §12.4.3.2). The sequencer depends on
 * this narrow interface only, so the rules of DESIGN §4 can be read without MLS details.
 */

export interface GroupMember {
  leaf: number;
  senderId: bigint;
  userId: string;
  signatureKey: Uint8Array;
}

export interface ProposalSummary {
  type: string;
  /** Leaf removed by a Remove proposal. */
  removedLeaf?: number;
  /** User an Add proposal adds (its BasicCredential identity), for the ban check. */
  addedUserId?: string;
  /** Index in external_senders when a hub (not a member) proposed it. */
  externalSender?: number;
}

export type CheckFailure = {
  ok: false;
  code: string;
  message: string;
  expected?: bigint;
};

export type ProposalCheck =
  | { ok: true; ref: Uint8Array; proposal: ProposalSummary; epoch?: bigint }
  | CheckFailure;

export type CommitCheck =
  | {
      ok: true;
      next: GroupView;
      removedLeaves: number[];
      addedMembers: GroupMember[];
    }
  | CheckFailure;

export interface GroupView {
  readonly epoch: bigint;
  /** The MLS group id (ROOM_CREATE binds it to the room id); absent in test doubles. */
  readonly groupId?: Uint8Array;
  readonly treeHash: Uint8Array;
  members(): GroupMember[];
  memberBySenderId(senderId: bigint): GroupMember | undefined;
  checkProposal(message: Uint8Array): ProposalCheck;
  checkCommit(
    commit: Uint8Array,
    groupInfo: Uint8Array,
    pendingRefs: readonly Uint8Array[],
    pendingMessages: readonly Uint8Array[],
  ): CommitCheck;
  checkExternalCommit(commit: Uint8Array, groupInfo: Uint8Array): CommitCheck;
  encode(): Uint8Array;
}

/** Builds group views: from a joiner-facing GroupInfo (room creation) or from room state. */
export interface GroupViewFactory {
  fromGroupInfo(groupInfo: Uint8Array): GroupView;
  decode(bytes: Uint8Array): GroupView;
}
