/**
 * Random edits of a hub tree (PublicTree) for the property tests of what a view carries
 * from epoch to epoch (keyIndex.test.ts, treeEncoding.test.ts): set or blank a leaf or a
 * parent, add, update and remove a leaf. Node contents come from the test's own makers.
 */
import fc from "fast-check";
import type { LeafNode } from "ts-mls/leafNode.js";
import type { ParentNode } from "ts-mls/parentNode.js";
import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { PublicTree } from "../../src/mls/tree.js";

export interface NodeMakers {
  leaf(a: number, b: number): LeafNode;
  parent(a: number, unmerged: number[]): ParentNode;
}

export type TreeEdit =
  | { op: "leaf"; at: number; a: number; b: number; blank: boolean }
  | { op: "parent"; at: number; a: number; unmerged: number[]; blank: boolean }
  | { op: "add"; a: number; b: number }
  | { op: "update"; at: number; a: number; b: number }
  | { op: "remove"; at: number };

/** Edits whose node parameters are drawn from `a` and `b`. */
export function treeEdit(a: fc.Arbitrary<number>, b: fc.Arbitrary<number>): fc.Arbitrary<TreeEdit> {
  const at = fc.nat(20);
  return fc.oneof(
    fc.record({ op: fc.constant("leaf" as const), at, a, b, blank: fc.boolean() }),
    fc.record({
      op: fc.constant("parent" as const),
      at,
      a,
      unmerged: fc.array(fc.nat(30), { maxLength: 3 }),
      blank: fc.boolean(),
    }),
    fc.record({ op: fc.constant("add" as const), a, b }),
    fc.record({ op: fc.constant("update" as const), at, a, b }),
    fc.record({ op: fc.constant("remove" as const), at }),
  );
}

export function startTree(leaves: readonly [number, number][], m: NodeMakers): PublicTree {
  const nodes: RatchetTree = [];
  leaves.forEach(([a, b], i) => {
    if (i > 0) nodes.push(undefined);
    nodes.push({ nodeType: "leaf", leaf: m.leaf(a, b) });
  });
  return PublicTree.fromNodes(nodes);
}

export function applyTreeEdit(t: PublicTree, e: TreeEdit, m: NodeMakers): void {
  const leaf = "at" in e ? e.at % t.leafCount : 0;
  switch (e.op) {
    case "leaf":
      t.setLeaf(leaf, e.blank ? undefined : m.leaf(e.a, e.b));
      return;
    case "parent":
      if (t.nodes.length >= 3)
        t.setParent(
          2 * (e.at % Math.floor(t.nodes.length / 2)) + 1,
          e.blank ? undefined : m.parent(e.a, e.unmerged),
        );
      return;
    case "add":
      t.addLeaf(m.leaf(e.a, e.b));
      return;
    case "update":
      if (t.leaf(leaf) !== undefined) t.updateLeaf(leaf, m.leaf(e.a, e.b));
      return;
    case "remove":
      if (t.leafCount > 1 && t.leaf(leaf) !== undefined) t.removeLeaf(leaf);
  }
}
