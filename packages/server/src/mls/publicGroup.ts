/**
 * The hub's public view of one MLS group: what OpenMLS calls PublicGroup and mls-rs
 * ExternalGroup, built on ts-mls 1.6.4's codecs. It holds the GroupContext, the ratchet tree
 * without any private key, and the interim transcript hash; never a group secret (DESIGN §6).
 *
 * Immutable: every check returns a result and, for an accepted commit, the next epoch's view.
 *
 * @example
 * const room = PublicGroup.fromGroupInfo(groupInfoBytes, hubPublicKey);
 * const res = room.checkCommit(commitBytes, nextGroupInfoBytes, pendingRefs, pendingMessages);
 * if (res.ok) room = res.next; else sendError(res.code, res.expected);
 */

import { concatBytes, deriveSenderId } from "@kalandra/proto";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeVarLenData, varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { decodeGroupContext } from "ts-mls/groupContext.js";
import type { LeafNode } from "ts-mls/leafNode.js";
import {
  type AppliedCommit,
  applyExternalCommit,
  applyMemberCommit,
  indexPending,
} from "./commit.js";
import { toHex } from "./crypto.js";
import { type CheckFailure, guard, MlsViewError, Reject } from "./errors.js";
import { stateFromGroupInfo } from "./groupInfo.js";
import { decodePublicMessage, decodeTree, encodeGroupContext } from "./messages.js";
import { checkProposalMessage, type ProposalSummary } from "./proposals.js";
import { externalSenderKeys, type GroupState } from "./state.js";
import { PublicTree } from "./tree.js";
import { userIdOf } from "./validate.js";

const encodeVarLen = encode(varLenDataEncoder);
const STATE_MAGIC = Uint8Array.from([0x4b, 0x50, 0x47, 0x01]); // "KPG" v1

/** One member device as the hub sees it. */
export interface Member {
  leafIndex: number;
  userId: string;
  /** Ed25519 public key, 32 bytes: the leaf's signature key and the device's frame key. */
  signatureKey: Uint8Array;
  /** deriveSenderId(signatureKey) (docs/contracts.md, Identity). */
  senderId: bigint;
}

export type ProposalCheck = { ok: true; ref: Uint8Array; proposal: ProposalSummary } | CheckFailure;

export type CommitCheck =
  | {
      ok: true;
      /** The view at epoch+1. */
      next: PublicGroup;
      committerLeaf: number;
      /** Leaves removed, as indexed in the old epoch. An added member may take one of them. */
      removedLeaves: number[];
      /** The removed devices, as they were in the old epoch. */
      removedMembers: Member[];
      /** New leaves, as indexed in the new epoch (for an external commit: the joiner). */
      addedMembers: Member[];
      treeHash: Uint8Array;
    }
  | CheckFailure;

/**
 * What a Member needs from a leaf, per LeafNode object. Leaf objects are never mutated and
 * are shared by every epoch's tree until replaced, so a new view reuses them: computing
 * them for 10,000 leaves (sender id digests, UTF-8, hex) cost ~30–50 ms per commit.
 */
const leafFacts = new WeakMap<LeafNode, { userId: string; senderId: bigint; keyHex: string }>();

function factsOf(leaf: LeafNode): { userId: string; senderId: bigint; keyHex: string } {
  let f = leafFacts.get(leaf);
  if (f === undefined) {
    f = {
      userId: userIdOf(leaf),
      senderId: deriveSenderId(leaf.signaturePublicKey),
      keyHex: toHex(leaf.signaturePublicKey),
    };
    leafFacts.set(leaf, f);
  }
  return f;
}

function memberOf(leafIndex: number, leaf: LeafNode): Member {
  const f = factsOf(leaf);
  return {
    leafIndex,
    userId: f.userId,
    signatureKey: leaf.signaturePublicKey,
    senderId: f.senderId,
  };
}

export class PublicGroup {
  private memberCache: Member[] | undefined;
  private bySigKey: Map<string, number> | undefined;
  private bySenderId: Map<bigint, number> | undefined;

  private constructor(private readonly state: GroupState) {}

  /**
   * Starts the view from a GroupInfo MLSMessage carrying the ratchet_tree extension (room
   * creation at epoch 0, or any later epoch). With `hubKey`, the group must list the hub's
   * Ed25519 key among its external senders (DESIGN §6). Throws MlsViewError (INVALID_GROUP_INFO).
   */
  static fromGroupInfo(groupInfoMlsMessage: Uint8Array, hubKey?: Uint8Array): PublicGroup {
    try {
      return new PublicGroup(stateFromGroupInfo(groupInfoMlsMessage, hubKey));
    } catch (e) {
      throw toViewError(e, "INVALID_GROUP_INFO");
    }
  }

  get epoch(): bigint {
    return this.state.context.epoch;
  }
  get groupId(): Uint8Array {
    return this.state.context.groupId.slice();
  }
  get treeHash(): Uint8Array {
    return this.state.context.treeHash.slice();
  }

  /** Members in leaf order. */
  members(): Member[] {
    if (this.memberCache === undefined) {
      const out: Member[] = [];
      const tree = this.state.tree;
      for (let i = 0; i < tree.leafCount; i++) {
        const leaf = tree.leaf(i);
        if (leaf !== undefined) out.push(memberOf(i, leaf));
      }
      this.memberCache = out;
    }
    return this.memberCache.map((m) => ({ ...m }));
  }

  private indexes(): void {
    if (this.bySigKey !== undefined) return;
    this.members();
    this.bySigKey = new Map();
    this.bySenderId = new Map();
    for (const m of this.memberCache ?? []) {
      const leaf = this.state.tree.leaf(m.leafIndex) as LeafNode;
      this.bySigKey.set(factsOf(leaf).keyHex, m.leafIndex);
      this.bySenderId.set(m.senderId, m.leafIndex);
    }
  }

  leafBySignatureKey(signatureKey: Uint8Array): number | undefined {
    this.indexes();
    return this.bySigKey?.get(toHex(signatureKey));
  }

  leafBySenderId(senderId: bigint): number | undefined {
    this.indexes();
    return this.bySenderId?.get(senderId);
  }

  /** Signature keys of the external_senders extensions, in sender-index order. */
  externalSenders(): Uint8Array[] {
    return externalSenderKeys(this.state.context, "INVALID_GROUP_INFO").map((k) => k.slice());
  }

  /**
   * A PublicMessage proposal by a member, an external sender (the hub) or a new member. Checks
   * the epoch (WRONG_EPOCH), the sender (NOT_MEMBER), its signature and the proposal itself
   * (INVALID_PROPOSAL). The membership_tag is not checked: it needs the group's membership
   * key, which the hub does not have (RFC 9420 §6.2); the signature binds the sender.
   */
  checkProposal(mlsMessage: Uint8Array): ProposalCheck {
    return guard("INVALID_PROPOSAL", () => {
      const pm = decodePublicMessage(mlsMessage, "INVALID_PROPOSAL");
      const { ref, summary } = checkProposalMessage(this.state, pm);
      return { ok: true as const, ref, proposal: summary };
    });
  }

  /**
   * A member's commit at the current epoch. It must cover every pending proposal by
   * reference (MISSING_PROPOSALS); `pendingProposals` are the stored MLSMessages of those
   * proposals, needed to apply the ones the commit references. The GroupInfo for epoch+1
   * must agree with the commit (INVALID_GROUP_INFO). Does not change `this`.
   */
  checkCommit(
    commitMlsMessage: Uint8Array,
    groupInfoMlsMessage: Uint8Array,
    pendingProposalRefs: readonly Uint8Array[],
    pendingProposals?: readonly Uint8Array[],
  ): CommitCheck {
    return guard("INVALID_COMMIT", () => {
      const pending = indexPending(this.state, pendingProposalRefs, pendingProposals);
      return this.accepted(
        applyMemberCommit(this.state, commitMlsMessage, groupInfoMlsMessage, pending),
      );
    });
  }

  /**
   * An external commit (a joiner, RFC 9420 §12.4.3.2) at the current epoch: signed by the new
   * leaf in its UpdatePath, exactly one ExternalInit, at most a Remove of the joiner's own old
   * leaf. The sequencer refuses it while removals are pending (DESIGN §4).
   */
  checkExternalCommit(commitMlsMessage: Uint8Array, groupInfoMlsMessage: Uint8Array): CommitCheck {
    return guard("INVALID_COMMIT", () =>
      this.accepted(applyExternalCommit(this.state, commitMlsMessage, groupInfoMlsMessage)),
    );
  }

  private accepted(applied: AppliedCommit): CommitCheck {
    const next = new PublicGroup(applied.state);
    return {
      ok: true,
      next,
      committerLeaf: applied.committerLeaf,
      removedLeaves: applied.removed.map((r) => r.leafIndex),
      removedMembers: applied.removed.map((r) => memberOf(r.leafIndex, r.leaf)),
      addedMembers: applied.added.map((a) => memberOf(a.leafIndex, a.leaf)),
      treeHash: next.treeHash,
    };
  }

  /** Compact persistent form: GroupContext, interim transcript hash, ratchet tree. */
  encode(): Uint8Array {
    return concatBytes(
      STATE_MAGIC,
      encodeVarLen(encodeGroupContext(this.state.context)),
      encodeVarLen(this.state.interimTranscriptHash),
      encodeVarLen(this.state.tree.encode()),
    );
  }

  /** Inverse of encode(); checks the tree against the stored tree hash. Throws MlsViewError. */
  static decode(bytes: Uint8Array): PublicGroup {
    try {
      if (!(bytes instanceof Uint8Array) || bytes.length < 4) throw new Error("too short");
      for (let i = 0; i < 4; i++) if (bytes[i] !== STATE_MAGIC[i]) throw new Error("bad magic");
      // ts-mls decoders return [value, bytes consumed].
      const ctxBytes = decodeVarLenData(bytes, 4);
      if (ctxBytes === undefined) throw new Error("truncated context");
      const interim = decodeVarLenData(bytes, 4 + ctxBytes[1]);
      if (interim === undefined) throw new Error("truncated transcript hash");
      const treeBytes = decodeVarLenData(bytes, 4 + ctxBytes[1] + interim[1]);
      if (treeBytes === undefined || 4 + ctxBytes[1] + interim[1] + treeBytes[1] !== bytes.length)
        throw new Error("truncated tree");
      const ctx = decodeGroupContext(ctxBytes[0], 0);
      if (ctx === undefined || ctx[1] !== ctxBytes[0].length) throw new Error("bad GroupContext");
      const tree = PublicTree.fromNodes(decodeTree(treeBytes[0]));
      const treeHash = tree.rootHash();
      if (Buffer.compare(Buffer.from(treeHash), Buffer.from(ctx[0].treeHash)) !== 0)
        throw new Error("tree hash mismatch");
      return new PublicGroup({
        context: ctx[0],
        tree,
        interimTranscriptHash: interim[0].slice(),
        keys: { index: undefined },
      });
    } catch (e) {
      throw new MlsViewError(
        "INVALID_GROUP_INFO",
        `stored group state does not decode: ${(e as Error).message}`,
      );
    }
  }
}

function toViewError(e: unknown, fallback: "INVALID_GROUP_INFO"): MlsViewError {
  if (e instanceof Reject) return new MlsViewError(e.code, e.message);
  return new MlsViewError(fallback, `malformed GroupInfo: ${(e as Error)?.message ?? String(e)}`);
}
