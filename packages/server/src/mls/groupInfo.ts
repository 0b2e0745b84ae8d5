/**
 * GroupInfo checks (RFC 9420 §12.4.3). The hub serves GroupInfo to joiners, so it accepts
 * one only when it agrees with what the hub computed itself: a committer cannot feed
 * joiners a forged tree, epoch or transcript (issue 3, DESIGN §4).
 */
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeExternalPub } from "ts-mls/createCommit.js";
import { type GroupInfo, groupInfoTBSEncoder } from "ts-mls/groupInfo.js";
import type { PublicMessage } from "ts-mls/publicMessage.js";
import { bytesEqual, verifyWithLabel } from "./crypto.js";
import { reject } from "./errors.js";
import {
  decodeGroupInfoMessage,
  decodeTree,
  encodeGroupContext,
  ratchetTreeExtension,
} from "./messages.js";
import { externalSenderKeys, type GroupState, interimHash } from "./state.js";
import { PublicTree } from "./tree.js";
import { matchesTreeEncoding } from "./treeEncoding.js";
import { checkLeafNode, SUITE } from "./validate.js";

const encodeGroupInfoTBS = encode(groupInfoTBSEncoder);
const X25519_PUBLIC_KEY_BYTES = 32;

function verifySigner(gi: GroupInfo, tree: PublicTree): void {
  const signer = tree.leaf(gi.signer);
  if (signer === undefined)
    reject("INVALID_GROUP_INFO", `GroupInfo signer ${gi.signer} is not a member`);
  if (
    !verifyWithLabel(
      signer.signaturePublicKey,
      "GroupInfoTBS",
      encodeGroupInfoTBS(gi),
      gi.signature,
    )
  )
    reject("INVALID_GROUP_INFO", "GroupInfo signature is invalid");
}

/**
 * The GroupInfo's external_pub, if any, must be one RFC 9420 §12.4.3.2 `HPKEPublicKey`
 * (opaque<V>) holding an X25519 key, so that external joiners of any implementation can use
 * what the hub serves. The patched ts-mls also reads the bare 32-byte key that clients wrote
 * before issue 13 (docs/mls-interop.md); anything else is refused.
 */
function checkExternalPub(gi: GroupInfo): void {
  const exts = gi.extensions.filter((e) => e.extensionType === "external_pub");
  if (exts.length > 1) reject("INVALID_GROUP_INFO", "more than one external_pub extension");
  const ext = exts[0];
  if (ext === undefined) return;
  if (decodeExternalPub(ext.extensionData)?.length !== X25519_PUBLIC_KEY_BYTES)
    reject("INVALID_GROUP_INFO", "external_pub is not an X25519 HPKEPublicKey");
}

/**
 * The GroupInfo the committer publishes for epoch+1 must carry exactly the GroupContext the
 * hub computed, the commit's confirmation tag, the committer as signer with a valid
 * signature, and the hub's new tree in its ratchet_tree extension (byte for byte).
 */
export function checkNextGroupInfo(
  bytes: Uint8Array,
  next: GroupState,
  commit: PublicMessage,
  committer: number,
): void {
  const gi = decodeGroupInfoMessage(bytes);
  const ctx = gi.groupContext;
  if (ctx.epoch !== next.context.epoch)
    reject("INVALID_GROUP_INFO", `GroupInfo is for epoch ${ctx.epoch}`);
  if (!bytesEqual(ctx.treeHash, next.context.treeHash))
    reject("INVALID_GROUP_INFO", "GroupInfo tree hash differs from the tree the commit produces");
  if (!bytesEqual(encodeGroupContext(ctx), encodeGroupContext(next.context)))
    reject("INVALID_GROUP_INFO", "GroupInfo GroupContext differs from the one the commit produces");
  if (
    commit.auth.contentType !== "commit" ||
    !bytesEqual(gi.confirmationTag, commit.auth.confirmationTag)
  )
    reject("INVALID_GROUP_INFO", "GroupInfo confirmation tag differs from the commit's");
  if (gi.signer !== committer)
    reject("INVALID_GROUP_INFO", "GroupInfo is not signed by the committer");
  verifySigner(gi, next.tree);
  checkExternalPub(gi);
  const treeExt = ratchetTreeExtension(gi);
  if (treeExt === undefined)
    reject("INVALID_GROUP_INFO", "GroupInfo lacks the ratchet_tree extension");
  if (!matchesTreeEncoding(next.tree, treeExt))
    reject(
      "INVALID_GROUP_INFO",
      "GroupInfo ratchet tree differs from the tree the commit produces",
    );
}

/**
 * A GroupInfo from which the hub starts its view (room creation, or re-seeding): decoded
 * tree, tree hash equal to the GroupContext's, signer's signature, parent hashes, every
 * leaf's signature and key uniqueness (RFC 9420 §12.4.3.1, the joiner's checks).
 */
export function stateFromGroupInfo(bytes: Uint8Array, hubKey: Uint8Array | undefined): GroupState {
  const gi = decodeGroupInfoMessage(bytes);
  const ctx = gi.groupContext;
  if (ctx.version !== "mls10" || ctx.cipherSuite !== SUITE)
    reject("INVALID_GROUP_INFO", "group must use MLS 1.0 with cipher suite 1");
  const treeExt = ratchetTreeExtension(gi);
  if (treeExt === undefined)
    reject("INVALID_GROUP_INFO", "GroupInfo lacks the ratchet_tree extension");
  const tree = PublicTree.fromNodes(decodeTree(treeExt));
  if (!bytesEqual(tree.rootHash(), ctx.treeHash))
    reject("INVALID_GROUP_INFO", "tree hash does not match the GroupContext");
  verifySigner(gi, tree);
  checkExternalPub(gi);
  if (!tree.unmergedLeavesValid())
    reject("INVALID_GROUP_INFO", "unmerged leaves do not match the tree");
  if (!tree.verifyParentHashes()) reject("INVALID_GROUP_INFO", "parent hashes do not verify");
  const sigKeys = new Set<string>();
  const hpkeKeys = new Set<string>();
  for (let i = 0; i < tree.nodes.length; i++) {
    const n = tree.nodes[i];
    if (n === undefined) continue;
    const hpke = Buffer.from(
      n.nodeType === "leaf" ? n.leaf.hpkePublicKey : n.parent.hpkePublicKey,
    ).toString("hex");
    if (hpkeKeys.has(hpke)) reject("INVALID_GROUP_INFO", "encryption keys are not unique");
    hpkeKeys.add(hpke);
    if (n.nodeType !== "leaf") continue;
    checkLeafNode(n.leaf, ctx, i / 2, n.leaf.leafNodeSource, "INVALID_GROUP_INFO");
    const sig = Buffer.from(n.leaf.signaturePublicKey).toString("hex");
    if (sigKeys.has(sig)) reject("INVALID_GROUP_INFO", "signature keys are not unique");
    sigKeys.add(sig);
  }
  const externals = externalSenderKeys(ctx, "INVALID_GROUP_INFO");
  if (hubKey !== undefined && !externals.some((k) => bytesEqual(k, hubKey)))
    reject("INVALID_GROUP_INFO", "the hub is not among the group's external senders");
  return {
    context: ctx,
    tree,
    interimTranscriptHash: interimHash(ctx.confirmedTranscriptHash, gi.confirmationTag),
    keys: { index: undefined },
  };
}
