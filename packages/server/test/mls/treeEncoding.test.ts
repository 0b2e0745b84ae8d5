/**
 * The carried tree encoding (treeEncoding.ts) against the uncached path: over epochs of
 * random edits, comparing a GroupInfo's ratchet_tree bytes piecewise says "equal" exactly
 * when a full `encode()` of the tree equals them — for the right bytes, any one byte
 * changed, bytes cut short or grown, and the previous epoch's bytes.
 */
import fc from "fast-check";
import type { LeafNode } from "ts-mls/leafNode.js";
import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { beforeAll, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/mls/crypto.js";
import { PublicTree } from "../../src/mls/tree.js";
import { matchesTreeEncoding } from "../../src/mls/treeEncoding.js";
import { device, suite } from "./mlsClients.js";

let template: LeafNode;

beforeAll(async () => {
  template = (await device(await suite(), "template")).publicPackage.leafNode;
});

const key = (k: number, len = 32) => new Uint8Array(len).fill(k);
const leafOf = (k: number, extra: number): LeafNode => ({
  ...template,
  hpkePublicKey: key(k),
  signature: key(k, 64 + extra), // varying lengths shift every later node's offset
});

type Edit =
  | { op: "leaf"; at: number; k: number; extra: number; blank: boolean }
  | { op: "parent"; at: number; k: number; unmerged: number[]; blank: boolean }
  | { op: "add"; k: number; extra: number }
  | { op: "remove"; at: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    op: fc.constant("leaf" as const),
    at: fc.nat(20),
    k: fc.nat(255),
    extra: fc.nat(100),
    blank: fc.boolean(),
  }),
  fc.record({
    op: fc.constant("parent" as const),
    at: fc.nat(20),
    k: fc.nat(255),
    unmerged: fc.array(fc.nat(30), { maxLength: 3 }),
    blank: fc.boolean(),
  }),
  fc.record({ op: fc.constant("add" as const), k: fc.nat(255), extra: fc.nat(100) }),
  fc.record({ op: fc.constant("remove" as const), at: fc.nat(20) }),
);

function applyEdit(t: PublicTree, e: Edit): void {
  switch (e.op) {
    case "leaf":
      t.setLeaf(e.at % t.leafCount, e.blank ? undefined : leafOf(e.k, e.extra));
      return;
    case "parent": {
      if (t.nodes.length < 3) return;
      const p = 2 * (e.at % Math.floor(t.nodes.length / 2)) + 1;
      t.setParent(
        p,
        e.blank
          ? undefined
          : { hpkePublicKey: key(e.k), parentHash: key(e.k, 32), unmergedLeaves: e.unmerged },
      );
      return;
    }
    case "add":
      t.addLeaf(leafOf(e.k, e.extra));
      return;
    case "remove":
      if (t.leafCount > 1 && t.leaf(e.at % t.leafCount) !== undefined)
        t.removeLeaf(e.at % t.leafCount);
  }
}

function variants(right: Uint8Array, flip: number, previous: Uint8Array): Uint8Array[] {
  const flipped = right.slice();
  const at = flip % flipped.length;
  flipped[at] = (flipped[at] as number) ^ 0x01;
  const grown = new Uint8Array(right.length + 1);
  grown.set(right);
  return [right, flipped, right.subarray(0, right.length - 1), grown, previous];
}

describe("carried ratchet tree encoding", () => {
  it("matches exactly the bytes a full encode gives, epoch after epoch", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(255), fc.nat(100)), { minLength: 1, maxLength: 9 }),
        fc.array(fc.array(edit, { maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        fc.nat(1_000_000),
        (leaves, epochs, flip) => {
          const nodes: RatchetTree = [];
          leaves.forEach(([k, extra], i) => {
            if (i > 0) nodes.push(undefined);
            nodes.push({ nodeType: "leaf", leaf: leafOf(k, extra) });
          });
          let tree = PublicTree.fromNodes(nodes);
          let previous = tree.encode();
          expect(matchesTreeEncoding(tree, previous)).toBe(true);
          for (const edits of epochs) {
            const next = tree.clone();
            for (const e of edits) applyEdit(next, e);
            const right = next.clone().encode(); // a clone has no encoding: the full path
            // Each candidate on its own clone of the same edits (a match adopts the bytes).
            for (const candidate of variants(right, flip, previous)) {
              const probe = tree.clone();
              for (const e of edits) applyEdit(probe, e);
              expect(matchesTreeEncoding(probe, candidate)).toBe(bytesEqual(candidate, right));
            }
            expect(matchesTreeEncoding(next, right)).toBe(true);
            expect(next.encode()).toEqual(right);
            next.changes.length = 0; // as a finished commit check leaves it
            tree = next;
            previous = right;
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
