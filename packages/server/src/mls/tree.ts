/**
 * The public ratchet tree (RFC 9420 §4, §7) as the hub holds it: nodes without any private
 * key, plus a cache of subtree hashes so a commit rehashes only the paths it touched
 * (O(log n) per changed leaf instead of O(n) for the whole tree, RFC 9420 §7.8).
 *
 * A PublicTree is mutable while a check builds the next epoch's tree on a `clone()`; the
 * PublicGroup that owns a finished tree never mutates it again.
 */
import { encode } from "ts-mls/codec/tlsEncoder.js";
import type { LeafNode } from "ts-mls/leafNode.js";
import { parentHashInputEncoder } from "ts-mls/parentHash.js";
import type { ParentNode } from "ts-mls/parentNode.js";
import { type Node, nodeEncoder, type RatchetTree } from "ts-mls/ratchetTree.js";
import { leafNodeHashInputEncoder, parentNodeHashInputEncoder } from "ts-mls/treeHash.js";
import { bytesEqual, sha256, varintPrefix } from "./crypto.js";
import { reject } from "./errors.js";
import type { TreeBytes } from "./treeEncoding.js";
import { fullSize, leftChild, level, parentOf, rightChild, rootOf } from "./treeMath.js";

const encodeLeafHashInput = encode(leafNodeHashInputEncoder);
const encodeParentHashInput = encode(parentNodeHashInputEncoder);
const encodeParentHash = encode(parentHashInputEncoder);
const encodeNode = encode(nodeEncoder);

/**
 * Encoded `optional<Node>` (present) per node object. Node objects are never mutated and are
 * shared between a tree and its clones, so an epoch re-encodes only the nodes it replaced.
 */
const nodeEncodings = new WeakMap<Node, Uint8Array>();

export function encodedNode(n: Node): Uint8Array {
  let e = nodeEncodings.get(n);
  if (e === undefined) {
    const body = encodeNode(n);
    e = new Uint8Array(body.length + 1);
    e[0] = 1;
    e.set(body, 1);
    nodeEncodings.set(n, e);
  }
  return e;
}

const ABSENT = Uint8Array.of(0);
const PRESENT = Uint8Array.of(1);
const LEAF_TYPE = Uint8Array.of(1); // NodeType leaf (RFC 9420 §7.8)
const PARENT_TYPE = Uint8Array.of(2);

/** One node replaced in a tree: what a carried index needs to follow the tree (keyIndex.ts). */
export interface NodeChange {
  readonly nodeIndex: number;
  readonly old: Node | undefined;
  readonly now: Node | undefined;
}

export class PublicTree {
  /** Every node replaced since this tree was made (a clone starts empty), in order. */
  readonly changes: NodeChange[] = [];
  /** This tree's ratchet_tree encoding, once known to be equal to encode() (treeEncoding.ts). */
  private encoding: TreeBytes | undefined;
  /** The encoding of the tree this one was cloned from, before `changes`. */
  private base: TreeBytes | undefined;

  private constructor(
    /** Node i of the array representation; length is always 2^(d+1)-1. */
    readonly nodes: (Node | undefined)[],
    /** hashes[i] = tree hash of the subtree rooted at i, or undefined when stale. */
    private readonly hashes: (Uint8Array | undefined)[],
  ) {}

  /** From a decoded ratchet_tree (already extended to full size by ts-mls's decoder). */
  static fromNodes(tree: RatchetTree): PublicTree {
    if (tree.length === 0) reject("INVALID_GROUP_INFO", "empty ratchet tree");
    const size = fullSize(tree.length);
    const nodes = tree.slice();
    while (nodes.length < size) nodes.push(undefined);
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      if (n === undefined) continue;
      if ((i % 2 === 0) !== (n.nodeType === "leaf"))
        reject("INVALID_GROUP_INFO", `node ${i} has the wrong type`);
    }
    return new PublicTree(nodes, new Array(size).fill(undefined));
  }

  clone(): PublicTree {
    const c = new PublicTree(this.nodes.slice(), this.hashes.slice());
    c.base = this.encoding;
    return c;
  }

  get baseEncoding(): TreeBytes | undefined {
    return this.base;
  }

  /** Keeps `e` as this tree's encoding: the caller checked it equals encode(). */
  adoptEncoding(e: TreeBytes): void {
    this.encoding = e;
    this.base = undefined;
  }

  get leafCount(): number {
    return (this.nodes.length + 1) / 2;
  }
  get root(): number {
    return rootOf(this.nodes.length);
  }

  leaf(leafIndex: number): LeafNode | undefined {
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= this.leafCount)
      return undefined;
    const n = this.nodes[leafIndex * 2];
    return n?.nodeType === "leaf" ? n.leaf : undefined;
  }
  parent(nodeIndex: number): ParentNode | undefined {
    const n = this.nodes[nodeIndex];
    return n?.nodeType === "parent" ? n.parent : undefined;
  }

  /** Direct path of a node, bottom-up, excluding the node, including the root. */
  directPath(nodeIndex: number): number[] {
    const out: number[] = [];
    const r = this.root;
    let x = nodeIndex;
    while (x !== r) {
      x = parentOf(x);
      out.push(x);
    }
    return out;
  }

  private set(nodeIndex: number, node: Node | undefined): void {
    this.changes.push({ nodeIndex, old: this.nodes[nodeIndex], now: node });
    this.encoding = undefined;
    this.nodes[nodeIndex] = node;
    // Invalidate the cached hashes of this node and every ancestor.
    this.hashes[nodeIndex] = undefined;
    for (const p of this.directPath(nodeIndex)) this.hashes[p] = undefined;
  }

  setLeaf(leafIndex: number, leaf: LeafNode | undefined): void {
    this.set(leafIndex * 2, leaf === undefined ? undefined : { nodeType: "leaf", leaf });
  }
  setParent(nodeIndex: number, parent: ParentNode | undefined): void {
    this.set(nodeIndex, parent === undefined ? undefined : { nodeType: "parent", parent });
  }
  blankDirectPath(leafIndex: number): void {
    for (const p of this.directPath(leafIndex * 2))
      if (this.nodes[p] !== undefined) this.setParent(p, undefined);
  }

  // --- proposals (RFC 9420 §12.1) ----------------------------------------------------------

  /** Update: replace the sender's leaf and blank its direct path. */
  updateLeaf(leafIndex: number, leaf: LeafNode): void {
    this.blankDirectPath(leafIndex);
    this.setLeaf(leafIndex, leaf);
  }

  /** Remove: blank the leaf and its direct path, then truncate a blank right half. */
  removeLeaf(leafIndex: number): void {
    this.blankDirectPath(leafIndex);
    this.setLeaf(leafIndex, undefined);
    this.truncate();
  }

  private truncate(): void {
    // RFC 9420 §7.7: while the right subtree of the root is entirely blank, drop it.
    while (this.nodes.length > 1) {
      const half = (this.nodes.length - 1) / 2; // index of the root
      let blank = true;
      for (let i = half + 1; i < this.nodes.length; i++) {
        if (this.nodes[i] !== undefined) {
          blank = false;
          break;
        }
      }
      if (!blank) return;
      // The root goes too, blank or not (a parent left over leaves that are gone): a change
      // the carried key index must follow, or it still counts the root's key (keyIndex.ts).
      const root = this.nodes[half];
      if (root !== undefined) this.changes.push({ nodeIndex: half, old: root, now: undefined });
      // Left subtree keeps its cached hashes: hashes do not depend on the tree's size.
      this.nodes.length = half;
      this.hashes.length = half;
    }
  }

  /** Add: first blank leaf (extending the tree if none), marked unmerged on its direct path. */
  addLeaf(leaf: LeafNode): number {
    let leafIndex = -1;
    for (let i = 0; i < this.nodes.length; i += 2) {
      if (this.nodes[i] === undefined) {
        leafIndex = i / 2;
        break;
      }
    }
    if (leafIndex < 0) {
      leafIndex = this.leafCount;
      const n = this.nodes.length;
      // Double: the old tree becomes the left subtree of a new root; its hashes stay valid.
      for (let i = 0; i <= n; i++) {
        this.nodes.push(undefined);
        this.hashes.push(undefined);
      }
    }
    for (const p of this.directPath(leafIndex * 2)) {
      const parent = this.parent(p);
      if (parent !== undefined)
        this.setParent(p, { ...parent, unmergedLeaves: [...parent.unmergedLeaves, leafIndex] });
    }
    this.setLeaf(leafIndex, leaf);
    return leafIndex;
  }

  // --- hashes ----------------------------------------------------------------------------

  /** Tree hash of the subtree rooted at `nodeIndex` (RFC 9420 §7.8), cached. */
  hash(nodeIndex: number): Uint8Array {
    const cached = this.hashes[nodeIndex];
    if (cached !== undefined) return cached;
    let h: Uint8Array;
    const node = this.nodes[nodeIndex];
    // TreeHashInput (RFC 9420 §7.8) hashed in parts, reusing the node's cached encoding
    // `01 ‖ node_type ‖ body` of the ratchet tree: one encoding per node serves both.
    const body = node === undefined ? undefined : encodedNode(node).subarray(2);
    if (nodeIndex % 2 === 0) {
      const index = new Uint8Array(4);
      new DataView(index.buffer).setUint32(0, nodeIndex / 2);
      h =
        body === undefined
          ? sha256(LEAF_TYPE, index, ABSENT)
          : sha256(LEAF_TYPE, index, PRESENT, body);
    } else {
      const l = this.hash(leftChild(nodeIndex));
      const r = this.hash(rightChild(nodeIndex));
      const lp = varintPrefix(l.length);
      const rp = varintPrefix(r.length);
      h =
        body === undefined
          ? sha256(PARENT_TYPE, ABSENT, lp, l, rp, r)
          : sha256(PARENT_TYPE, PRESENT, body, lp, l, rp, r);
    }
    // Nodes right of the array's end (never reached in a full tree) are computed, not cached.
    if (nodeIndex < this.hashes.length) this.hashes[nodeIndex] = h;
    return h;
  }

  rootHash(): Uint8Array {
    return this.hash(this.root);
  }

  /**
   * Tree hash of a subtree as if the leaves in `removed` were blank and dropped from every
   * unmerged_leaves list: the "original sibling tree hash" of RFC 9420 §7.9. Subtrees that
   * contain no removed leaf keep their cached hash (no descendant lists a leaf outside it).
   */
  private hashWithout(nodeIndex: number, removed: readonly number[]): Uint8Array {
    if (removed.length === 0) return this.hash(nodeIndex);
    const lvl = level(nodeIndex);
    const firstLeaf = (nodeIndex - ((1 << lvl) - 1)) / 2;
    const lastLeaf = firstLeaf + (1 << lvl) - 1;
    const inside = removed.filter((l) => l >= firstLeaf && l <= lastLeaf);
    if (inside.length === 0) return this.hash(nodeIndex);
    if (nodeIndex % 2 === 0) {
      return sha256(
        encodeLeafHashInput({ nodeType: "leaf", leafIndex: nodeIndex / 2, leafNode: undefined }),
      );
    }
    const p = this.parent(nodeIndex);
    const parentNode =
      p === undefined
        ? undefined
        : { ...p, unmergedLeaves: p.unmergedLeaves.filter((l) => !inside.includes(l)) };
    return sha256(
      encodeParentHashInput({
        nodeType: "parent",
        parentNode,
        leftHash: this.hashWithout(leftChild(nodeIndex), inside),
        rightHash: this.hashWithout(rightChild(nodeIndex), inside),
      }),
    );
  }

  /** First non-blank ancestor of a node, or the root if all are blank. */
  private firstNonBlankAncestor(nodeIndex: number): number {
    for (const p of this.directPath(nodeIndex)) if (this.nodes[p] !== undefined) return p;
    return this.root;
  }

  /**
   * The parent hash a node must carry (RFC 9420 §7.9): hash of its first non-blank ancestor
   * P with the tree hash of P's other child, P's unmerged leaves removed. Returns the empty
   * string for a node whose ancestors are all blank, plus P's index (undefined at the root).
   */
  parentHashFor(nodeIndex: number): [Uint8Array, number | undefined] {
    const root = this.root;
    if (nodeIndex === root) return [new Uint8Array(0), undefined];
    const pIndex = this.firstNonBlankAncestor(nodeIndex);
    const p = this.parent(pIndex);
    if (p === undefined) return [new Uint8Array(0), pIndex];
    const sibling = nodeIndex < pIndex ? rightChild(pIndex) : leftChild(pIndex);
    const originalSiblingTreeHash = this.hashWithout(sibling, p.unmergedLeaves);
    return [
      sha256(
        encodeParentHash({
          encryptionKey: p.hpkePublicKey,
          parentHash: p.parentHash,
          originalSiblingTreeHash,
        }),
      ),
      pIndex,
    ];
  }

  /**
   * Every non-blank parent node must be covered by exactly one parent-hash chain starting at
   * a leaf (RFC 9420 §7.9.2), as ts-mls's verifyParentHashes checks; here with cached hashes.
   */
  verifyParentHashes(): boolean {
    const coverage = new Map<number, number>();
    const root = this.root;
    for (let i = 0; i < this.nodes.length; i += 2) {
      if (this.nodes[i] === undefined) continue;
      let current = i;
      while (current !== root) {
        const node = this.nodes[current];
        if (node === undefined) break;
        const expected =
          node.nodeType === "parent"
            ? node.parent.parentHash
            : node.leaf.leafNodeSource === "commit"
              ? node.leaf.parentHash
              : undefined;
        const [ph, pIndex] = this.parentHashFor(current);
        if (pIndex === undefined || expected === undefined || !bytesEqual(ph, expected)) break;
        coverage.set(pIndex, (coverage.get(pIndex) ?? 0) + 1);
        current = pIndex;
      }
    }
    for (let i = 1; i < this.nodes.length; i += 2) {
      if (this.nodes[i] !== undefined && coverage.get(i) !== 1) return false;
    }
    return true;
  }

  /**
   * The joiner's unmerged-leaves check (RFC 9420 §12.4.3.1): each entry of a parent's
   * unmerged_leaves is a non-blank leaf below it, listed once, and every non-blank node
   * between that leaf and the parent lists it too.
   */
  unmergedLeavesValid(): boolean {
    for (let p = 1; p < this.nodes.length; p += 2) {
      const node = this.parent(p);
      if (node === undefined) continue;
      const lvl = level(p);
      const first = (p - ((1 << lvl) - 1)) / 2;
      const seen = new Set<number>();
      for (const u of node.unmergedLeaves) {
        if (!Number.isInteger(u) || u < first || u >= first + (1 << lvl) || seen.has(u))
          return false;
        seen.add(u);
        if (this.leaf(u) === undefined) return false;
        for (const q of this.directPath(u * 2)) {
          if (q === p) break;
          const between = this.parent(q);
          if (between !== undefined && !between.unmergedLeaves.includes(u)) return false;
        }
      }
    }
    return true;
  }

  /** Resolution of a node (RFC 9420 §4.1.1), as node indices in left-to-right order. */
  resolution(nodeIndex: number): number[] {
    if (nodeIndex >= this.nodes.length) return [];
    const n = this.nodes[nodeIndex];
    if (n === undefined) {
      if (nodeIndex % 2 === 0) return [];
      return [...this.resolution(leftChild(nodeIndex)), ...this.resolution(rightChild(nodeIndex))];
    }
    if (n.nodeType === "leaf") return [nodeIndex];
    return [nodeIndex, ...n.parent.unmergedLeaves.map((l) => l * 2)];
  }

  /** Resolution is non-empty iff the subtree holds any non-blank node (RFC 9420 §4.1.1). */
  private hasNonBlank(nodeIndex: number): boolean {
    if (nodeIndex >= this.nodes.length) return false;
    if (this.nodes[nodeIndex] !== undefined) return true;
    if (nodeIndex % 2 === 0) return false;
    return this.hasNonBlank(leftChild(nodeIndex)) || this.hasNonBlank(rightChild(nodeIndex));
  }

  /** Filtered direct path (RFC 9420 §4.1.2): drop nodes whose copath child has an empty resolution. */
  filteredDirectPath(leafIndex: number): number[] {
    const out: number[] = [];
    let x = leafIndex * 2;
    const root = this.root;
    while (x !== root) {
      const p = parentOf(x);
      const sibling = x < p ? rightChild(p) : leftChild(p);
      if (this.hasNonBlank(sibling)) out.push(p);
      x = p;
    }
    return out;
  }

  /** The ratchet_tree extension encoding (trailing blank nodes stripped, RFC 9420 §12.4.3.3). */
  encode(): Uint8Array {
    if (this.encoding !== undefined) {
      const prefix = varintPrefix(this.encoding.body.length);
      const out = new Uint8Array(prefix.length + this.encoding.body.length);
      out.set(prefix, 0);
      out.set(this.encoding.body, prefix.length);
      return out;
    }
    let last = this.nodes.length - 1;
    while (last >= 0 && this.nodes[last] === undefined) last--;
    const parts: Uint8Array[] = [];
    let len = 0;
    for (let i = 0; i <= last; i++) {
      const n = this.nodes[i];
      const e = n === undefined ? ABSENT : encodedNode(n);
      parts.push(e);
      len += e.length;
    }
    const prefix = varintPrefix(len);
    const out = new Uint8Array(prefix.length + len);
    out.set(prefix, 0);
    let o = prefix.length;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
