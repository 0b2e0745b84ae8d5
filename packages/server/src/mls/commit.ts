/**
 * Applying a commit to the public view (RFC 9420 §12.4.2) without group secrets: sender,
 * epoch and signature; proposals (by value and by reference) applied to a copy of the tree;
 * the UpdatePath with its parent hashes; the new tree hash and GroupContext. The committer's
 * GroupInfo for the new epoch must then agree with all of it (see groupInfo.ts).
 */

import { encode } from "ts-mls/codec/tlsEncoder.js";
import type { FramedContentCommit } from "ts-mls/framedContent.js";
import type { LeafNode } from "ts-mls/leafNode.js";
import type { ProposalOrRef } from "ts-mls/proposalOrRefType.js";
import type { PublicMessage } from "ts-mls/publicMessage.js";
import { confirmedTranscriptHashInputEncoder } from "ts-mls/transcriptHash.js";
import { bytesEqual, sha256, toHex } from "./crypto.js";
import { reject } from "./errors.js";
import { checkNextGroupInfo } from "./groupInfo.js";
import { withCarriedKeys } from "./keyIndex.js";
import { decodePublicMessage, proposalRef, verifyFramedContent } from "./messages.js";
import { type ResolvedProposal, summarize } from "./proposals.js";
import { type GroupState, interimHash } from "./state.js";
import { applyUpdatePath } from "./updatePath.js";
import { checkKeyPackage, checkLeafNode } from "./validate.js";

const encodeConfirmedInput = encode(confirmedTranscriptHashInputEncoder);

export interface AppliedCommit {
  state: GroupState;
  committerLeaf: number;
  removed: { leafIndex: number; leaf: LeafNode }[];
  added: { leafIndex: number; leaf: LeafNode }[];
}

/** Pending proposals of the epoch, indexed by the hex of their ProposalRef. */
export function indexPending(
  state: GroupState,
  refs: readonly Uint8Array[],
  messages: readonly Uint8Array[] | undefined,
): Map<string, ResolvedProposal | undefined> {
  const index = new Map<string, ResolvedProposal | undefined>();
  for (const r of refs) index.set(toHex(r), undefined);
  for (const m of messages ?? []) {
    // The sequencer stored these after checkProposal accepted them in this epoch.
    const pm = decodePublicMessage(m, "INVALID_COMMIT");
    if (pm.content.contentType !== "proposal") continue;
    const ref = toHex(proposalRef(pm));
    if (!index.has(ref)) continue;
    const s = pm.content.sender;
    index.set(ref, {
      proposal: pm.content.proposal,
      senderLeaf: s.senderType === "member" ? s.leafIndex : undefined,
    });
  }
  void state;
  return index;
}

function resolve(
  list: ProposalOrRef[],
  committer: number,
  pending: Map<string, ResolvedProposal | undefined>,
): { proposals: ResolvedProposal[]; uncovered: (ResolvedProposal | undefined)[] } {
  const seen = new Set<string>();
  const out: ResolvedProposal[] = [];
  for (const p of list) {
    if (p.proposalOrRefType === "proposal") {
      // RFC 9420 §12.4: a committer cannot include an Update of its own by value.
      if (p.proposal.proposalType === "update")
        reject("INVALID_COMMIT", "Update proposal by value");
      // Only a hub changes the extensions, by its own proposal (hubSenders.ts).
      if (p.proposal.proposalType === "group_context_extensions")
        reject("INVALID_COMMIT", "GroupContextExtensions proposal by value");
      out.push({ proposal: p.proposal, senderLeaf: committer });
      continue;
    }
    const ref = toHex(p.reference);
    if (seen.has(ref)) reject("INVALID_COMMIT", "proposal referenced twice");
    seen.add(ref);
    if (!pending.has(ref))
      reject("INVALID_COMMIT", "commit references a proposal the hub does not hold");
    const resolved = pending.get(ref);
    if (resolved === undefined)
      reject("INVALID_COMMIT", "content of a referenced proposal was not supplied");
    out.push(resolved);
  }
  const uncovered: (ResolvedProposal | undefined)[] = [];
  for (const [ref, resolved] of pending) if (!seen.has(ref)) uncovered.push(resolved);
  return { proposals: out, uncovered };
}

/**
 * DESIGN §4: a commit covers every pending proposal. The one exception is RFC 9420 §12.2's:
 * of several Updates/Removes for one leaf the committer includes one, so a pending Remove or
 * Update of a leaf this commit removes anyway may be left out.
 */
function checkCoverage(
  uncovered: (ResolvedProposal | undefined)[],
  removedLeaves: readonly number[],
): void {
  for (const p of uncovered) {
    const leaf =
      p?.proposal.proposalType === "remove"
        ? p.proposal.remove.removed
        : p?.proposal.proposalType === "update"
          ? p.senderLeaf
          : undefined;
    if (leaf === undefined || !removedLeaves.includes(leaf))
      reject("MISSING_PROPOSALS", "commit does not cover every pending proposal");
  }
}

/** A member's commit (sender type member) at the current epoch. */
export function applyMemberCommit(
  state: GroupState,
  commitBytes: Uint8Array,
  groupInfoBytes: Uint8Array,
  pending: Map<string, ResolvedProposal | undefined>,
): AppliedCommit {
  const pm = decodePublicMessage(commitBytes, "INVALID_COMMIT");
  const { content } = pm;
  if (content.contentType !== "commit") reject("INVALID_COMMIT", "not a commit");
  if (content.sender.senderType !== "member") reject("INVALID_COMMIT", "not a member commit");
  checkFrame(state, pm);
  const committer = content.sender.leafIndex;
  const committerLeaf = state.tree.leaf(committer);
  if (committerLeaf === undefined) reject("NOT_MEMBER", `leaf ${committer} is not a member`);
  if (!verifyFramedContent(committerLeaf.signaturePublicKey, content, pm.auth, state.context))
    reject("INVALID_COMMIT", "commit signature is invalid");

  const { proposals, uncovered } = resolve(content.commit.proposals, committer, pending);
  const tree = state.tree.clone();
  const context = state.context;
  const updates = proposals.filter((p) => p.proposal.proposalType === "update");
  const removes = proposals.flatMap((p) =>
    p.proposal.proposalType === "remove" ? [p.proposal.remove.removed] : [],
  );
  const adds = proposals.flatMap((p) =>
    p.proposal.proposalType === "add" ? [p.proposal.add.keyPackage] : [],
  );
  const extensions = proposals.flatMap((p) =>
    p.proposal.proposalType === "group_context_extensions"
      ? [p.proposal.groupContextExtensions.extensions]
      : [],
  );
  if (extensions.length > 1) reject("INVALID_COMMIT", "two GroupContextExtensions proposals");
  // Each proposal on its own (type allowed, leaf exists, signatures), against the old tree.
  for (const p of proposals) {
    try {
      if (p.proposal.proposalType !== "add") summarize(state, p.proposal, p.senderLeaf);
    } catch (e) {
      reject("INVALID_COMMIT", `invalid proposal in commit: ${(e as Error).message}`);
    }
  }
  checkCoverage(uncovered, removes);
  const touched = new Set<number>();
  for (const u of updates) {
    const leaf = u.senderLeaf as number;
    if (leaf === committer) reject("INVALID_COMMIT", "commit contains an Update by the committer");
    if (touched.has(leaf)) reject("INVALID_COMMIT", "two proposals for one leaf");
    touched.add(leaf);
  }
  for (const r of removes) {
    if (r === committer) reject("INVALID_COMMIT", "commit removes the committer");
    if (touched.has(r)) reject("INVALID_COMMIT", "two proposals for one leaf");
    touched.add(r);
  }
  // RFC 9420 §12.3 order: Update, Remove, Add.
  for (const u of updates) {
    if (u.proposal.proposalType === "update")
      tree.updateLeaf(u.senderLeaf as number, u.proposal.update.leafNode);
  }
  const removed = removes.map((leafIndex) => ({
    leafIndex,
    leaf: state.tree.leaf(leafIndex) as LeafNode,
  }));
  for (const r of removes) tree.removeLeaf(r);
  return withCarriedKeys(state.keys, state.tree, tree, (keys, sync) => {
    sync(); // the index of the tree after Updates and Removes
    const added: AppliedCommit["added"] = [];
    for (const kp of adds) {
      checkKeyPackage(kp, context, "INVALID_COMMIT");
      // Against the tree after earlier adds too: no two adds of one client.
      keys.check(kp.leafNode, undefined, "INVALID_COMMIT");
      const leafIndex = tree.addLeaf(kp.leafNode);
      sync();
      added.push({ leafIndex, leaf: kp.leafNode });
    }
    const path = content.commit.path;
    // RFC 9420 §17.4: Update, Remove and GroupContextExtensions need a path.
    const needsPath =
      proposals.length === 0 || updates.length > 0 || removes.length > 0 || extensions.length > 0;
    if (needsPath && path === undefined) reject("INVALID_COMMIT", "commit needs an UpdatePath");
    if (path !== undefined) {
      checkLeafNode(path.leafNode, context, committer, "commit", "INVALID_COMMIT");
      keys.check(path.leafNode, committer, "INVALID_COMMIT");
      const newLeaves = new Set(added.map((a) => a.leafIndex));
      applyUpdatePath(tree, committer, path, false, (k) => keys.hasHpke(k), newLeaves);
    }
    const next = nextState(state, pm, tree, extensions[0]);
    checkNextGroupInfo(groupInfoBytes, next, pm, committer);
    return { result: { state: next, committerLeaf: committer, removed, added }, slot: next.keys };
  });
}

/** An external commit (sender type new_member_commit, RFC 9420 §12.4.3.2). */
export function applyExternalCommit(
  state: GroupState,
  commitBytes: Uint8Array,
  groupInfoBytes: Uint8Array,
): AppliedCommit {
  const pm = decodePublicMessage(commitBytes, "INVALID_COMMIT");
  const { content } = pm;
  if (content.contentType !== "commit") reject("INVALID_COMMIT", "not a commit");
  if (content.sender.senderType !== "new_member_commit")
    reject("INVALID_COMMIT", "not an external commit");
  checkFrame(state, pm);
  const path = content.commit.path;
  if (path === undefined) reject("INVALID_COMMIT", "external commit without UpdatePath");
  if (!verifyFramedContent(path.leafNode.signaturePublicKey, content, pm.auth, state.context))
    reject("INVALID_COMMIT", "external commit signature is invalid");
  let externalInit = 0;
  const removes: number[] = [];
  for (const p of content.commit.proposals) {
    if (p.proposalOrRefType !== "proposal")
      reject("INVALID_COMMIT", "external commit with proposals by reference");
    const t = p.proposal.proposalType;
    if (t === "external_init") externalInit++;
    else if (t === "remove") removes.push(p.proposal.remove.removed);
    else reject("INVALID_COMMIT", `external commit with a ${String(t)} proposal`);
  }
  if (externalInit !== 1)
    reject("INVALID_COMMIT", "external commit needs exactly one ExternalInit");
  if (removes.length > 1) reject("INVALID_COMMIT", "external commit with more than one Remove");
  const tree = state.tree.clone();
  const removed: AppliedCommit["removed"] = [];
  for (const r of removes) {
    const old = state.tree.leaf(r);
    if (old === undefined) reject("INVALID_COMMIT", `Remove of blank leaf ${r}`);
    // A resync may only replace the joiner's own old leaf (RFC 9420 §12.4.3.2): same identity.
    if (
      old.credential.credentialType !== "basic" ||
      path.leafNode.credential.credentialType !== "basic" ||
      !bytesEqual(old.credential.identity, path.leafNode.credential.identity)
    )
      reject("INVALID_COMMIT", "external commit removes another user's leaf");
    removed.push({ leafIndex: r, leaf: old });
    tree.removeLeaf(r);
  }
  // Keys of the tree before the joiner's leaf goes in: its own keys must be fresh.
  return withCarriedKeys(state.keys, state.tree, tree, (keys, sync) => {
    sync();
    keys.check(path.leafNode, undefined, "INVALID_COMMIT");
    const joiner = tree.addLeaf(path.leafNode);
    checkLeafNode(path.leafNode, state.context, joiner, "commit", "INVALID_COMMIT");
    applyUpdatePath(tree, joiner, path, true, (k) => keys.hasHpke(k), new Set([joiner]));
    const next = nextState(state, pm, tree);
    checkNextGroupInfo(groupInfoBytes, next, pm, joiner);
    const result: AppliedCommit = {
      state: next,
      committerLeaf: joiner,
      removed,
      added: [{ leafIndex: joiner, leaf: path.leafNode }],
    };
    return { result, slot: next.keys };
  });
}

function checkFrame(state: GroupState, pm: PublicMessage): void {
  const { content } = pm;
  if (!bytesEqual(content.groupId, state.context.groupId))
    reject("INVALID_COMMIT", "commit for another group");
  // DESIGN §4: the first commit at epoch E wins; anything else is stale.
  if (content.epoch !== state.context.epoch)
    reject(
      "STALE_EPOCH",
      `commit made in epoch ${content.epoch}, room is at ${state.context.epoch}`,
      state.context.epoch,
    );
}

/** GroupContext of epoch+1 (RFC 9420 §8.2): new tree hash and confirmed transcript hash. */
function nextState(
  state: GroupState,
  pm: PublicMessage,
  tree: GroupState["tree"],
  extensions = state.context.extensions,
): GroupState {
  const auth = pm.auth;
  if (auth.contentType !== "commit") reject("INVALID_COMMIT", "commit without confirmation tag");
  const confirmedTranscriptHash = sha256(
    state.interimTranscriptHash,
    encodeConfirmedInput({
      wireformat: "mls_public_message",
      content: pm.content as FramedContentCommit,
      signature: auth.signature,
    }),
  );
  const context = {
    ...state.context,
    extensions,
    epoch: state.context.epoch + 1n,
    treeHash: tree.rootHash(),
    confirmedTranscriptHash,
  };
  return {
    context,
    tree,
    interimTranscriptHash: interimHash(confirmedTranscriptHash, auth.confirmationTag),
    keys: { index: undefined },
  };
}
