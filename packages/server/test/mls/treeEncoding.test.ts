/**
 * The carried tree encoding (treeEncoding.ts) against the uncached path: over epochs of
 * random edits, comparing a GroupInfo's ratchet_tree bytes piecewise says "equal" exactly
 * when a full `encode()` of the tree equals them — for the right bytes, any one byte
 * changed, bytes cut short or grown, and the previous epoch's bytes.
 */
import fc from "fast-check";
import type { LeafNode } from "ts-mls/leafNode.js";
import { beforeAll, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/mls/crypto.js";
import { matchesTreeEncoding } from "../../src/mls/treeEncoding.js";
import { device, suite } from "./mlsClients.js";
import { applyTreeEdit, type NodeMakers, startTree, treeEdit } from "./treeEdits.js";

let template: LeafNode;

beforeAll(async () => {
  template = (await device(await suite(), "template")).publicPackage.leafNode;
});

const key = (k: number, len = 32) => new Uint8Array(len).fill(k);
const makers: NodeMakers = {
  leaf: (k, extra) => ({
    ...template,
    hpkePublicKey: key(k),
    signature: key(k, 64 + extra), // varying lengths shift every later node's offset
  }),
  parent: (k, unmergedLeaves) => ({ hpkePublicKey: key(k), parentHash: key(k), unmergedLeaves }),
};
const edit = treeEdit(fc.nat(255), fc.nat(100));

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
          let tree = startTree(leaves, makers);
          let previous = tree.encode();
          expect(matchesTreeEncoding(tree, previous)).toBe(true);
          for (const edits of epochs) {
            const next = tree.clone();
            for (const e of edits) applyTreeEdit(next, e, makers);
            const right = next.clone().encode(); // a clone has no encoding: the full path
            // Each candidate on its own clone of the same edits (a match adopts the bytes).
            for (const candidate of variants(right, flip, previous)) {
              const probe = tree.clone();
              for (const e of edits) applyTreeEdit(probe, e, makers);
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
