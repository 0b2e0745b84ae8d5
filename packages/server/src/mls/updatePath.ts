/**
 * Applying a commit's UpdatePath to the public tree (RFC 9420 §7.5, §7.9, §12.4.2).
 */
import type { UpdatePath } from "ts-mls/updatePath.js";
import { bytesEqual } from "./crypto.js";
import { reject } from "./errors.js";
import type { PublicTree } from "./tree.js";
import { leftChild, rightChild } from "./treeMath.js";

/**
 * Applies a commit's UpdatePath for `leafIndex` (RFC 9420 §7.5, §12.4.2), mirroring ts-mls's
 * applyUpdatePath: new leaf, blanked direct path, new parent nodes along the filtered direct
 * path with their parent hashes, and the leaf's parent_hash must match the computed chain.
 * The leaf node itself must already have been validated by the caller.
 */
export function applyUpdatePath(
  tree: PublicTree,
  leafIndex: number,
  path: UpdatePath,
  isExternal: boolean,
  hasKey: (hpkePublicKey: Uint8Array) => boolean,
  newLeaves: ReadonlySet<number>,
): void {
  const old = tree.leaf(leafIndex);
  if (!isExternal) {
    if (old === undefined) reject("INVALID_COMMIT", "committer leaf is blank");
    if (bytesEqual(old.hpkePublicKey, path.leafNode.hpkePublicKey))
      reject("INVALID_COMMIT", "UpdatePath leaf keeps the committer's encryption key");
  }
  for (const n of path.nodes) {
    if (hasKey(n.hpkePublicKey))
      reject("INVALID_COMMIT", "UpdatePath public key already in the tree");
  }
  const fdp = tree.filteredDirectPath(leafIndex);
  if (fdp.length !== path.nodes.length)
    reject("INVALID_COMMIT", "UpdatePath length does not match the filtered direct path");
  // Every member below each copath node must get the path secret, or it could not process
  // the commit and the room would fork (RFC 9420 §12.4.2). The hub cannot decrypt the
  // ciphertexts; it checks there is one per node of the copath resolution, leaves added by
  // this commit excepted (they get the secret in the Welcome).
  for (let i = 0; i < fdp.length; i++) {
    const p = fdp[i] as number;
    const x = i === 0 ? leafIndex * 2 : (fdp[i - 1] as number);
    const copathChild = x < p ? rightChild(p) : leftChild(p);
    const expected = tree
      .resolution(copathChild)
      .filter((n) => n % 2 !== 0 || !newLeaves.has(n / 2)).length;
    if ((path.nodes[i] as UpdatePath["nodes"][number]).encryptedPathSecret.length !== expected)
      reject("INVALID_COMMIT", "UpdatePath does not encrypt the path secret to every member");
  }
  tree.setLeaf(leafIndex, path.leafNode);
  tree.blankDirectPath(leafIndex);
  for (let i = fdp.length - 1; i >= 0; i--) {
    const nodeIndex = fdp[i] as number;
    const [parentHash] = tree.parentHashFor(nodeIndex);
    tree.setParent(nodeIndex, {
      hpkePublicKey: (path.nodes[i] as UpdatePath["nodes"][number]).hpkePublicKey,
      parentHash,
      unmergedLeaves: [],
    });
  }
  const [leafParentHash] = tree.parentHashFor(leafIndex * 2);
  if (
    path.leafNode.leafNodeSource !== "commit" ||
    !bytesEqual(leafParentHash, path.leafNode.parentHash)
  )
    reject("INVALID_COMMIT", "parent hash of the UpdatePath does not match");
}
