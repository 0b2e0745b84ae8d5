/**
 * The key index a view carries from epoch to epoch (keyIndex.ts) against the uncached path:
 * after any sequence of tree edits, an index that followed the edits answers exactly as one
 * built from the edited tree, duplicates included; undoing the edits gives back the answers
 * of the original tree. And a view whose commit check failed half-way (its index followed
 * the commit, then was restored) still refuses and accepts what a fresh view does.
 */
import fc from "fast-check";
import type { CiphersuiteImpl, ClientState } from "ts-mls";
import type { LeafNode } from "ts-mls/leafNode.js";
import { beforeAll, describe, expect, it } from "vitest";
import { PublicGroup } from "../../src/mls/index.js";
import { KeyIndex } from "../../src/mls/keyIndex.js";
import {
  cast,
  commit,
  createRoom,
  type Device,
  groupInfoBytes,
  type Hub,
  memberProposal,
} from "./mlsClients.js";
import { applyTreeEdit, type NodeMakers, startTree, treeEdit } from "./treeEdits.js";

// A small key universe, so that trees hold one key several times.
const KEYS = Array.from({ length: 6 }, (_, i) => Uint8Array.from([i, 7, 7, 7, i]));
const keyIx = fc.integer({ min: 0, max: KEYS.length - 1 });

const makers: NodeMakers = {
  leaf: (hpke, sig) =>
    ({
      hpkePublicKey: KEYS[hpke] as Uint8Array,
      signaturePublicKey: KEYS[sig] as Uint8Array,
    }) as LeafNode,
  parent: (hpke) => ({
    hpkePublicKey: KEYS[hpke] as Uint8Array,
    parentHash: new Uint8Array(0),
    unmergedLeaves: [],
  }),
};
const edit = treeEdit(keyIx, keyIx);

function answers(k: KeyIndex): string {
  return JSON.stringify(KEYS.map((key) => [k.hasHpke(key), k.signatureHolder(key) ?? null]));
}

describe("KeyIndex carried across tree edits", () => {
  it("equals an index built from the edited tree, and reverts to the original's", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyIx, keyIx), { minLength: 1, maxLength: 6 }),
        fc.array(edit, { maxLength: 25 }),
        fc.nat(25),
        (leaves, edits, cut) => {
          const old = startTree(leaves, makers);
          const carried = KeyIndex.of(old);
          const before = answers(carried);
          const next = old.clone();
          // Followed in two steps, as a commit check syncs after proposals and again later.
          const first = Math.min(cut, edits.length);
          for (const e of edits.slice(0, first)) applyTreeEdit(next, e, makers);
          carried.apply(next.changes);
          const synced = next.changes.length;
          for (const e of edits.slice(first)) applyTreeEdit(next, e, makers);
          carried.apply(next.changes, synced);
          expect(answers(carried)).toBe(answers(KeyIndex.of(next)));
          carried.revert(next.changes, next.changes.length);
          expect(answers(carried)).toBe(before);
        },
      ),
    );
  });
});

describe("KeyIndex across a truncation", () => {
  it("forgets the key of a non-blank root that a removal truncates away (fast-check seed -1271569983)", () => {
    // Three leaves; leaf 1 removed; the parent over leaves 0 and 1 set; leaf 2 removed: the
    // tree truncates to leaf 0 alone, dropping that parent (RFC 9420 §7.7).
    const old = startTree(
      [
        [0, 0],
        [1, 1],
        [2, 2],
      ],
      makers,
    );
    const carried = KeyIndex.of(old);
    const next = old.clone();
    applyTreeEdit(next, { op: "remove", at: 1 }, makers);
    applyTreeEdit(next, { op: "parent", at: 0, a: 3, unmerged: [], blank: false }, makers);
    applyTreeEdit(next, { op: "remove", at: 2 }, makers);
    expect(next.nodes.length).toBe(1);
    carried.apply(next.changes);
    expect(carried.hasHpke(KEYS[3]!)).toBe(false);
    expect(answers(carried)).toBe(answers(KeyIndex.of(next)));
    carried.revert(next.changes, next.changes.length);
    expect(answers(carried)).toBe(answers(KeyIndex.of(old)));
  });
});

describe("a view's carried index after a failed commit check", () => {
  let cs: CiphersuiteImpl;
  let hub: Hub;
  let devices: Device[];
  beforeAll(async () => {
    ({ cs, hub, devices } = await cast(["alice", "bob", "carol", "dave"]));
  });

  it("refuses and accepts what a fresh view does", async () => {
    const [alice, bob, carol, dave] = devices as [Device, Device, Device, Device];
    const creator: ClientState = await createRoom(cs, hub, alice);
    const add = (d: Device) => ({
      proposalType: "add" as const,
      add: { keyPackage: d.publicPackage },
    });
    const made = await commit(cs, creator, [add(bob), add(carol)]);
    const first = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, creator), hub.publicKey);
    const r1 = first.checkCommit(made.commit, made.groupInfo, []);
    if (!r1.ok) throw new Error(r1.message);
    const view = r1.next; // carries the index of the 3-member tree

    // A commit adding dave, sent with the previous epoch's GroupInfo: refused after the
    // check followed the Add (and the path) into the index, which must then be restored.
    const badAdd = await commit(cs, made.state, [add(dave)]);
    expect(view.checkCommit(badAdd.commit, made.groupInfo, [])).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
    const update = await commit(cs, made.state);

    const fresh = PublicGroup.decode(view.encode());
    for (const v of [view, fresh]) {
      // bob is in the tree: his key package again is a duplicate; dave's is fresh.
      const dup = await memberProposal(cs, made.state, add(bob));
      const ok = await memberProposal(cs, made.state, add(dave));
      expect(v.checkProposal(dup.bytes)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
      expect(v.checkProposal(ok.bytes).ok).toBe(true);
    }
    const good = view.checkCommit(update.commit, update.groupInfo, []);
    expect(good.ok).toBe(true);
    if (!good.ok) return;
    // The successor took the index over and follows it: bob still a duplicate, dave not.
    const dup = await memberProposal(cs, update.state, add(bob));
    expect(good.next.checkProposal(dup.bytes)).toMatchObject({ ok: false });
    const fine = await commit(cs, update.state, [add(dave)]);
    expect(good.next.checkCommit(fine.commit, fine.groupInfo, []).ok).toBe(true);
  });
});
