/**
 * Tests of the ts-mls patch (patches/ts-mls@1.6.4.patch): memoized tree hashes and an
 * identity-preserving removeLeaves. The reference below is RFC 9420 §7.8 computed
 * from scratch with ts-mls's own hash-input encoders, never touching the memo.
 */
import fc from "fast-check";
import type { CiphersuiteImpl, ClientState, Hash, Node, RatchetTree } from "ts-mls";
import { createCommit } from "ts-mls";
import { removeLeaves } from "ts-mls/ratchetTree.js";
import {
  encodeLeafNodeHashInput,
  encodeParentNodeHashInput,
  treeHash,
  treeHashRoot,
} from "ts-mls/treeHash.js";
import {
  isLeaf,
  left,
  nodeToLeafIndex,
  right,
  rootFromNodeWidth,
  toLeafIndex,
  toNodeIndex,
} from "ts-mls/treemath.js";
import { beforeAll, describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { addMembers, join, newGroup, newMember, receive, seededRng } from "./mlsFixtures.js";
import { fcSeed } from "./providers.js";

async function referenceHash(tree: RatchetTree, index: number, h: Hash): Promise<Uint8Array> {
  const ni = toNodeIndex(index);
  if (isLeaf(ni)) {
    const n = tree[index];
    return h.digest(
      encodeLeafNodeHashInput({
        nodeType: "leaf",
        leafIndex: nodeToLeafIndex(ni),
        leafNode: n?.nodeType === "leaf" ? n.leaf : undefined,
      }),
    );
  }
  const n = tree[index];
  return h.digest(
    encodeParentNodeHashInput({
      nodeType: "parent",
      parentNode: n?.nodeType === "parent" ? n.parent : undefined,
      leftHash: await referenceHash(tree, left(ni), h),
      rightHash: await referenceHash(tree, right(ni), h),
    }),
  );
}

const referenceRoot = (tree: RatchetTree, h: Hash) =>
  referenceHash(tree, rootFromNodeWidth(tree.length), h);

/** A Hash that counts digests, to observe how much work the memo saves. */
function counting(h: Hash): Hash & { count: number } {
  const c = {
    count: 0,
    digest(data: Uint8Array) {
      c.count++;
      return h.digest(data);
    },
    mac: h.mac.bind(h),
    verifyMac: h.verifyMac.bind(h),
  };
  return c;
}

describe("ts-mls patch: memoized tree hash", () => {
  let cs: CiphersuiteImpl;
  let states: ClientState[];

  beforeAll(async () => {
    cs = getKalandraCiphersuiteImpl(seededRng("tree-hash-patch"));
    const members = await Promise.all(Array.from({ length: 12 }, (_, i) => newMember(`m${i}`, cs)));
    let creator = await newGroup("patch", members[0]!, cs);
    const added = await addMembers(creator, members.slice(1), cs);
    creator = added.state;
    states = [creator];
    // Several members commit in turn (filling different direct paths), a removal and
    // an update; every member processes every commit.
    const group: ClientState[] = [creator];
    for (const m of members.slice(1)) group.push(await join(added.welcome, m, cs));
    const committers = [3, 7, 0, 11, 5];
    for (const [step, who] of committers.entries()) {
      const extraProposals =
        step === 2
          ? [{ proposalType: "remove" as const, remove: { removed: toLeafIndex(9) } }]
          : [];
      const r = await createCommit(
        { state: group[who]!, cipherSuite: cs },
        { wireAsPublicMessage: true, extraProposals },
      );
      for (let i = 0; i < group.length; i++) {
        if (i === who) {
          group[i] = r.newState;
          continue;
        }
        const st = group[i]!;
        if (st.groupActiveState.kind !== "active") continue;
        const p = await receive(st, r.commit, cs);
        if (p.kind !== "newState") throw new Error("commit not processed");
        group[i] = p.newState;
      }
      states.push(group[who]!);
    }
  });

  it("the root hash of every epoch's tree equals the from-scratch RFC 9420 hash and the group context's", async () => {
    expect(states.length).toBe(6);
    for (const st of states) {
      const memo = await treeHashRoot(st.ratchetTree, cs.hash);
      expect(memo).toEqual(await referenceRoot(st.ratchetTree, cs.hash));
      expect(memo).toEqual(st.groupContext.treeHash);
    }
  });

  it("random edits of a tree (replaced, blanked, moved nodes) always hash like the reference", async () => {
    const base = states[states.length - 1]!.ratchetTree;
    const nodes = base.filter((n): n is Node => n !== undefined);
    const edit = fc.record({
      index: fc.nat({ max: base.length - 1 }),
      action: fc.constantFrom("blank", "copyFrom", "clone"),
      from: fc.nat({ max: nodes.length - 1 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 6 }), async (edits) => {
        const tree = base.slice();
        for (const e of edits) {
          const cur = tree[e.index];
          if (e.action === "blank") tree[e.index] = undefined;
          else if (e.action === "clone" && cur !== undefined) {
            // A structurally equal but new object must hash the same.
            tree[e.index] = structuredClone(cur);
          } else if (e.action === "copyFrom") {
            // Put some node of the right kind at this position (an object seen elsewhere).
            const want = isLeaf(toNodeIndex(e.index)) ? "leaf" : "parent";
            const donor = nodes.filter((n) => n.nodeType === want);
            tree[e.index] = donor[e.from % donor.length];
          }
        }
        // Memo first (warm from earlier epochs), then the reference.
        expect(await treeHashRoot(tree, cs.hash)).toEqual(await referenceRoot(tree, cs.hash));
        // A subtree hash too.
        expect(await treeHash(tree, toNodeIndex(1), cs.hash)).toEqual(
          await referenceHash(tree, 1, cs.hash),
        );
      }),
      { numRuns: 60, seed: fcSeed("tree hash patch") },
    );
  });

  it("after one leaf changes, re-hashing the tree costs O(log n) digests, not O(n)", async () => {
    const h = counting(cs.hash);
    const tree = states[states.length - 1]!.ratchetTree;
    await treeHashRoot(tree, h);
    const cold = h.count;
    expect(cold).toBe(tree.length); // one digest per node, leaves and parents
    h.count = 0;
    await treeHashRoot(tree, h);
    expect(h.count).toBe(0);
    const changed = tree.slice();
    const leaf = changed[4];
    if (leaf?.nodeType !== "leaf") throw new Error("expected a leaf at node 4");
    changed[4] = {
      nodeType: "leaf",
      leaf: { ...leaf.leaf, extensions: [], signature: new Uint8Array(64) },
    };
    h.count = 0;
    await treeHashRoot(changed, h);
    // The leaf and its direct path (depth of the tree), nothing else.
    expect(h.count).toBeLessThanOrEqual(1 + Math.ceil(Math.log2(tree.length)));
    expect(await treeHashRoot(changed, cs.hash)).toEqual(await referenceRoot(changed, cs.hash));
  });

  it("returned hashes are copies: mutating one does not poison the memo", async () => {
    const tree = states[0]!.ratchetTree;
    const a = await treeHashRoot(tree, cs.hash);
    a.fill(0);
    expect(await treeHashRoot(tree, cs.hash)).toEqual(await referenceRoot(tree, cs.hash));
  });
});

describe("ts-mls patch: removeLeaves keeps unchanged nodes", () => {
  it("removes leaves and their unmerged-leaf entries; untouched parents keep their identity", () => {
    const leafNode = (i: number): Node =>
      ({ nodeType: "leaf", leaf: { tag: i } }) as unknown as Node;
    const parentNode = (unmerged: number[]): Node => ({
      nodeType: "parent",
      parent: {
        hpkePublicKey: new Uint8Array(32),
        parentHash: new Uint8Array(0),
        unmergedLeaves: unmerged.map(toLeafIndex),
      },
    });
    // 4 leaves: nodes 0,2,4,6 leaves; 1,3,5 parents.
    const tree: RatchetTree = [
      leafNode(0),
      parentNode([]),
      leafNode(1),
      parentNode([1, 3]),
      leafNode(2),
      parentNode([3]),
      leafNode(3),
    ];
    const out = removeLeaves(tree, [toLeafIndex(3)]);
    expect(out[6]).toBeUndefined();
    expect(out[1]).toBe(tree[1]); // untouched: same object
    expect(out[3]).not.toBe(tree[3]);
    expect(out[3]?.nodeType === "parent" && out[3].parent.unmergedLeaves).toEqual([1]);
    expect(tree[3]?.nodeType === "parent" && tree[3].parent.unmergedLeaves).toEqual([1, 3]);
    const none = removeLeaves(tree, []);
    expect(none.slice(0, 7)).toEqual(tree);
    expect(none[3]).toBe(tree[3]);
  });
});
