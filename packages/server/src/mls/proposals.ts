/**
 * Checking a standalone proposal (RFC 9420 §12.1) as the hub can: epoch, sender, signature,
 * and the proposal's own validity against the current tree.
 *
 * The membership_tag of a member's PublicMessage (RFC 9420 §6.2) is a MAC under the
 * epoch's membership_key, a group secret the hub never has; the hub therefore checks the
 * sender's signature only. Members check the tag when they process the message.
 */
import type { Proposal } from "ts-mls/proposal.js";
import type { PublicMessage } from "ts-mls/publicMessage.js";
import { bytesEqual } from "./crypto.js";
import { type MlsViewErrorCode, reject } from "./errors.js";
import { checkEnlisting } from "./hubSenders.js";
import { checkLeafUnique } from "./keyIndex.js";
import { proposalRef, verifyFramedContent } from "./messages.js";
import { externalSenderKeys, type GroupState } from "./state.js";
import { checkKeyPackage, checkLeafNode, userIdOf } from "./validate.js";

/** What a proposal does, for the sequencer's pending set and moderation rules. */
export interface ProposalSummary {
  /** "extensions": a hub enlisting more hubs as external senders (hubSenders.ts). */
  type: "add" | "remove" | "update" | "extensions";
  /** Leaf of the proposing member; undefined for the hub or another external sender. */
  senderLeaf?: number;
  /** Index in the external_senders list when an external sender (e.g. the hub) proposed it. */
  externalSender?: number;
  removedLeaf?: number;
  removedUserId?: string;
  addedUserId?: string;
}

/** A proposal accepted for the pending set, as the commit check needs it. */
export interface ResolvedProposal {
  proposal: Proposal;
  /** Leaf of the proposer when a member sent it (needed to apply an Update). */
  senderLeaf: number | undefined;
}

export function checkProposalMessage(
  state: GroupState,
  pm: PublicMessage,
): { ref: Uint8Array; summary: ProposalSummary; resolved: ResolvedProposal } {
  const code: MlsViewErrorCode = "INVALID_PROPOSAL";
  const { content, auth } = pm;
  if (content.contentType !== "proposal") reject(code, "not a proposal");
  if (!bytesEqual(content.groupId, state.context.groupId))
    reject(code, "proposal for another group");
  if (content.epoch !== state.context.epoch)
    reject("WRONG_EPOCH", `proposal made in epoch ${content.epoch}`, state.context.epoch);
  const sender = content.sender;
  let key: Uint8Array;
  let senderLeaf: number | undefined;
  let externalSender: number | undefined;
  switch (sender.senderType) {
    case "member": {
      const leaf = state.tree.leaf(sender.leafIndex);
      if (leaf === undefined) reject("NOT_MEMBER", `leaf ${sender.leafIndex} is not a member`);
      key = leaf.signaturePublicKey;
      senderLeaf = sender.leafIndex;
      break;
    }
    case "external": {
      const senders = externalSenderKeys(state.context, code);
      const k = senders[sender.senderIndex];
      if (k === undefined) reject("NOT_MEMBER", `no external sender ${sender.senderIndex}`);
      key = k;
      externalSender = sender.senderIndex;
      break;
    }
    case "new_member_proposal": {
      if (content.proposal.proposalType !== "add")
        reject(code, "new_member_proposal must be an Add");
      key = content.proposal.add.keyPackage.leafNode.signaturePublicKey;
      break;
    }
    default:
      reject(code, `sender type ${sender.senderType} cannot propose`);
  }
  if (!verifyFramedContent(key, content, auth, state.context))
    reject(code, "proposal signature is invalid");
  const summary = summarize(state, content.proposal, senderLeaf);
  if (externalSender !== undefined) {
    summary.externalSender = externalSender;
    // External senders may only propose Add and Remove (RFC 9420 §12.1.8.1 lists them).
    if (summary.type === "update") reject(code, "an external sender cannot propose an Update");
  } else if (summary.type === "extensions") {
    reject(code, "only a hub (an external sender) may change the GroupContext extensions");
  }
  return { ref: proposalRef(pm), summary, resolved: { proposal: content.proposal, senderLeaf } };
}

/**
 * Validity of one proposal against the current tree. The hub accepts Add, Remove and Update,
 * and GroupContextExtensions only as a hub's enlisting of other hubs (hubSenders.ts: it
 * appends external senders and changes nothing else); PSK, ReInit, ExternalInit (outside
 * an external commit) and custom proposals are refused: the hub cannot check PSKs, and any
 * other extensions change could drop the hub from external_senders (DESIGN §6).
 */
export function summarize(
  state: GroupState,
  proposal: Proposal,
  senderLeaf: number | undefined,
): ProposalSummary {
  const code: MlsViewErrorCode = "INVALID_PROPOSAL";
  const context = state.context;
  const summary: ProposalSummary = { type: "add" };
  if (senderLeaf !== undefined) summary.senderLeaf = senderLeaf;
  switch (proposal.proposalType) {
    case "add": {
      const kp = proposal.add.keyPackage;
      checkKeyPackage(kp, context, code);
      checkLeafUnique(state.keys, state.tree, kp.leafNode, undefined, code);
      summary.addedUserId = userIdOf(kp.leafNode);
      return summary;
    }
    case "remove": {
      const removed = proposal.remove.removed;
      const leaf = state.tree.leaf(removed);
      if (leaf === undefined) reject(code, `Remove of blank leaf ${removed}`);
      summary.type = "remove";
      summary.removedLeaf = removed;
      summary.removedUserId = userIdOf(leaf);
      return summary;
    }
    case "update": {
      if (senderLeaf === undefined) reject(code, "Update must come from a member");
      checkLeafNode(proposal.update.leafNode, context, senderLeaf, "update", code);
      checkLeafUnique(state.keys, state.tree, proposal.update.leafNode, senderLeaf, code);
      summary.type = "update";
      return summary;
    }
    case "group_context_extensions": {
      // The hub's own enlisting of other hubs (hubSenders.ts); members never change them.
      if (senderLeaf !== undefined) reject(code, "a member cannot change the extensions");
      checkEnlisting(context.extensions, proposal.groupContextExtensions.extensions, code);
      summary.type = "extensions";
      return summary;
    }
    default:
      return reject(
        code,
        `proposal type ${String(proposal.proposalType)} is not accepted by the hub`,
      );
  }
}
