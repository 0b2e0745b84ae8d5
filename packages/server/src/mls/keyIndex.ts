/**
 * The encryption keys of every node and the signature keys of every leaf of a tree, for the
 * uniqueness rules of RFC 9420 §7.3 / §12.4.2 in O(1) per check, carried from epoch to epoch.
 *
 * Building it from a 10,000-member tree (30,000 keys) cost ~10 ms of every commit check
 * (docs/performance.md "10,000-member rooms"). A view now keeps the index of its tree; a
 * commit check takes it, follows the tree's node changes (PublicTree.changes) as the check
 * applies proposals and the path, and hands it to the next epoch's view, or undoes them and
 * gives it back when the check fails. A view whose index went to its successor (or that was
 * loaded from storage) builds it again on its next use: same answers, only slower.
 *
 * The index counts: a tree may hold one key twice (the checks compare new keys against the
 * tree, not against each other), and an index built from scratch answers as if the key's
 * last holder (highest leaf) held it alone; so does this one.
 */
import type { LeafNode } from "ts-mls/leafNode.js";
import type { Node } from "ts-mls/ratchetTree.js";
import { BytesMap } from "./bytesMap.js";
import { type MlsViewErrorCode, reject } from "./errors.js";
import type { NodeChange, PublicTree } from "./tree.js";

export class KeyIndex {
  /** Encryption key → how many nodes hold it. */
  private readonly hpke = new BytesMap<number>();
  /** Signature key → the leaves holding it. */
  private readonly sig = new BytesMap<number[]>();

  static of(tree: PublicTree): KeyIndex {
    const k = new KeyIndex();
    for (let i = 0; i < tree.nodes.length; i++) k.enter(tree.nodes[i], i);
    return k;
  }

  private enter(n: Node | undefined, nodeIndex: number): void {
    if (n === undefined) return;
    const hpke = n.nodeType === "parent" ? n.parent.hpkePublicKey : n.leaf.hpkePublicKey;
    this.hpke.set(hpke, (this.hpke.get(hpke) ?? 0) + 1);
    if (n.nodeType !== "leaf") return;
    const holders = this.sig.get(n.leaf.signaturePublicKey);
    if (holders === undefined) this.sig.set(n.leaf.signaturePublicKey, [nodeIndex / 2]);
    else holders.push(nodeIndex / 2);
  }

  private leave(n: Node | undefined, nodeIndex: number): void {
    if (n === undefined) return;
    const hpke = n.nodeType === "parent" ? n.parent.hpkePublicKey : n.leaf.hpkePublicKey;
    const count = this.hpke.get(hpke) ?? 0;
    if (count <= 1) this.hpke.delete(hpke);
    else this.hpke.set(hpke, count - 1);
    if (n.nodeType !== "leaf") return;
    const holders = this.sig.get(n.leaf.signaturePublicKey);
    const at = holders?.indexOf(nodeIndex / 2) ?? -1;
    if (holders === undefined || at < 0) return;
    holders.splice(at, 1);
    if (holders.length === 0) this.sig.delete(n.leaf.signaturePublicKey);
  }

  /** Follows node replacements made to the indexed tree, in order. */
  apply(changes: readonly NodeChange[], from = 0): void {
    for (let i = from; i < changes.length; i++) {
      const c = changes[i] as NodeChange;
      this.leave(c.old, c.nodeIndex);
      this.enter(c.now, c.nodeIndex);
    }
  }

  /** Undoes `apply(changes, 0)` up to `to` (exclusive), newest first. */
  revert(changes: readonly NodeChange[], to: number): void {
    for (let i = to - 1; i >= 0; i--) {
      const c = changes[i] as NodeChange;
      this.leave(c.now, c.nodeIndex);
      this.enter(c.old, c.nodeIndex);
    }
  }

  hasHpke(key: Uint8Array): boolean {
    return this.hpke.has(key);
  }

  /** The leaf holding a signature key (the highest one, should several). */
  signatureHolder(key: Uint8Array): number | undefined {
    const holders = this.sig.get(key);
    return holders === undefined ? undefined : Math.max(...holders);
  }

  /** A new leaf's keys are fresh; `ownLeaf` may keep its signature key (an Update or a path). */
  check(leaf: LeafNode, ownLeaf: number | undefined, code: MlsViewErrorCode): void {
    if (this.hasHpke(leaf.hpkePublicKey)) reject(code, "encryption key already in the tree");
    const holder = this.signatureHolder(leaf.signaturePublicKey);
    if (holder !== undefined && holder !== ownLeaf)
      reject(code, "signature key already in the tree");
  }
}

/** Where a view keeps its tree's index between checks (absent: built on first use). */
export interface KeySlot {
  index: KeyIndex | undefined;
}

/** The index of `tree`, for reading: built once and kept in `slot`. */
export function keysOf(slot: KeySlot, tree: PublicTree): KeyIndex {
  slot.index ??= KeyIndex.of(tree);
  return slot.index;
}

/**
 * Runs a commit check that builds `next` from `tree.clone()`: `work` gets the index of the
 * old tree and a `sync` that brings it up to the clone's changes so far. On success the
 * index (synced to the end) belongs to `next`'s slot; on failure it is restored and stays.
 */
export function withCarriedKeys<T>(
  slot: KeySlot,
  tree: PublicTree,
  next: PublicTree,
  work: (keys: KeyIndex, sync: () => void) => { result: T; slot: KeySlot },
): T {
  const keys = keysOf(slot, tree);
  slot.index = undefined;
  let synced = 0;
  const sync = () => {
    keys.apply(next.changes, synced);
    synced = next.changes.length;
  };
  try {
    const out = work(keys, sync);
    sync();
    next.changes.length = 0; // followed: the finished tree keeps no replaced nodes alive
    out.slot.index = keys;
    return out.result;
  } catch (e) {
    keys.revert(next.changes, synced);
    slot.index = keys;
    throw e;
  }
}

/** Uniqueness of one leaf's keys against a view's tree (standalone proposals). */
export function checkLeafUnique(
  slot: KeySlot,
  tree: PublicTree,
  leaf: LeafNode,
  ownLeaf: number | undefined,
  code: MlsViewErrorCode,
): void {
  keysOf(slot, tree).check(leaf, ownLeaf, code);
}
