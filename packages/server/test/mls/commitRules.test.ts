/**
 * The rules of a member commit one by one (RFC 9420 §12.2–12.4, DESIGN §4). Commits that
 * ts-mls would never produce are made by editing a real commit and re-signing it with the
 * committer's key, so only the rule under test can refuse them.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  encodeRequiredCapabilities,
  generateKeyPackage,
  type MLSMessage,
  type Proposal,
  proposeAddExternal,
} from "ts-mls";
import { type FramedContentCommit, signFramedContentTBS } from "ts-mls/framedContent.js";
import { signGroupInfo } from "ts-mls/groupInfo.js";
import type { ParentNode } from "ts-mls/parentNode.js";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { beforeAll, describe, expect, it } from "vitest";
import { PublicGroup } from "../../src/mls/index.js";
import {
  commit,
  type Device,
  device,
  encodeGroupInfo,
  groupInfoBytes,
  groupInfoOf,
  type Hub,
  hubRemove,
  memberProposal,
  process,
  roomOfThree,
} from "./mlsClients.js";

let cs: CiphersuiteImpl;
let hub: Hub;
let alice: Device;
let bob: Device;
let carol: Device;
let room: PublicGroup; // epoch 2: alice, bob, carol, after Bob's path update
let a2: ClientState;
let b2: ClientState;
let c2: ClientState;

beforeAll(async () => {
  const r1 = await roomOfThree();
  ({ cs, hub, alice, bob, carol } = r1);
  const upd = await commit(cs, r1.b1);
  const r2 = r1.room.checkCommit(upd.commit, upd.groupInfo, []);
  if (!r2.ok) throw new Error(r2.message);
  room = r2.next;
  b2 = upd.state;
  a2 = await process(cs, r1.a1, upd.commitMessage);
  c2 = await process(cs, r1.c1, upd.commitMessage);
});

type Public = MLSMessage & { wireformat: "mls_public_message" };

/** Edit a real commit's content and re-sign it as `signer` with the current GroupContext. */
async function resign(
  bytes: Uint8Array,
  signer: Device,
  state: ClientState,
  edit: (c: FramedContentCommit) => void,
): Promise<Uint8Array> {
  const m = decodeMlsMessage(bytes.slice(), 0)?.[0] as Public;
  const content = m.publicMessage.content as FramedContentCommit;
  edit(content);
  m.publicMessage.auth.signature = await signFramedContentTBS(
    signer.privatePackage.signaturePrivateKey,
    {
      protocolVersion: "mls10",
      wireformat: "mls_public_message",
      content,
      senderType: "member",
      context: state.groupContext,
    },
    cs.signature,
  );
  return encodeMlsMessage(m);
}

describe("pending proposals", () => {
  it("lets a commit leave out a second Remove or an Update of a leaf it removes", async () => {
    const kick1 = await hubRemove(cs, hub, a2, 2);
    const kick2 = await hubRemove(cs, hub, a2, 2);
    const upd = await memberProposal(cs, c2, { proposalType: "remove", remove: { removed: 2 } });
    const p1 = room.checkProposal(kick1.bytes);
    const p2 = room.checkProposal(kick2.bytes);
    const p3 = room.checkProposal(upd.bytes);
    if (!p1.ok || !p2.ok || !p3.ok) throw new Error("proposals");
    // Alice only saw the first kick.
    const c = await commit(cs, await process(cs, a2, kick1.message));
    const refs = [p1.ref, p2.ref, p3.ref];
    const msgs = [kick1.bytes, kick2.bytes, upd.bytes];
    const r = room.checkCommit(c.commit, c.groupInfo, refs, msgs);
    expect(r).toMatchObject({ ok: true, removedLeaves: [2] });
    // Without the content of the uncovered proposals, the hub cannot excuse them.
    expect(room.checkCommit(c.commit, c.groupInfo, refs, [kick1.bytes])).toMatchObject({
      ok: false,
      code: "MISSING_PROPOSALS",
    });
  });

  it("accepts an external Add proposal (new_member_proposal) committed by reference", async () => {
    const dave = await device(cs, "dave");
    const msg = await proposeAddExternal(
      await groupInfoOf(cs, a2),
      dave.publicPackage,
      dave.privatePackage,
      cs,
    );
    const bytes = encodeMlsMessage(msg);
    const pc = room.checkProposal(bytes);
    expect(pc).toMatchObject({ ok: true, proposal: { type: "add", addedUserId: "dave" } });
    if (!pc.ok) return;
    const c = await commit(cs, await process(cs, a2, msg));
    const r = room.checkCommit(c.commit, c.groupInfo, [pc.ref], [bytes]);
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    expect(r.addedMembers.map((m) => [m.leafIndex, m.userId])).toEqual([[3, "dave"]]);
    // Dave is now an unmerged leaf of the root, in the subtree beside Bob's path: a fresh view
    // must verify Bob's parent-hash chain with Dave taken out (RFC 9420 §7.9).
    const fresh = PublicGroup.fromGroupInfo(c.groupInfo, hub.publicKey);
    expect(Buffer.from(fresh.treeHash).toString("hex")).toBe(
      Buffer.from(r.treeHash).toString("hex"),
    );
    expect(Buffer.from(PublicGroup.decode(r.next.encode()).treeHash)).toEqual(
      Buffer.from(r.treeHash),
    );
    // Adding a device that is already a member is refused.
    const again = room.checkProposal(
      encodeMlsMessage(
        await proposeAddExternal(
          await groupInfoOf(cs, a2),
          bob.publicPackage,
          bob.privatePackage,
          cs,
        ),
      ),
    );
    expect(again).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
  });
});

describe("leaf capabilities", () => {
  it("refuses a device that does not support the basic credential members use", async () => {
    const x = await generateKeyPackage(
      { credentialType: "basic", identity: new TextEncoder().encode("xavier") },
      { ...defaultCapabilities(), credentials: ["x509"] },
      defaultLifetime,
      [],
      cs,
    );
    const msg = await proposeAddExternal(
      await groupInfoOf(cs, a2),
      x.publicPackage,
      x.privatePackage,
      cs,
    );
    expect(room.checkProposal(encodeMlsMessage(msg))).toMatchObject({
      ok: false,
      code: "INVALID_PROPOSAL",
      message: expect.stringMatching(/basic credential/),
    });
  });

  it("refuses a group whose members lack its required capabilities", async () => {
    const required = {
      extensionType: "required_capabilities" as const,
      extensionData: encodeRequiredCapabilities({
        extensionTypes: [0xf0f0],
        proposalTypes: [],
        credentialTypes: ["basic"],
      }),
    };
    const zed = await device(cs, "zed");
    const state = await createGroup(
      new TextEncoder().encode("room-rc"),
      zed.publicPackage,
      zed.privatePackage,
      [required],
      cs,
    );
    const gi = await groupInfoBytes(cs, state);
    expect(() => PublicGroup.fromGroupInfo(gi)).toThrow(/required capabilities/);
  });
});

describe("commit content rules", () => {
  let base: Uint8Array;
  let baseGi: Uint8Array;

  beforeAll(async () => {
    const c = await commit(cs, a2);
    base = c.commit;
    baseGi = c.groupInfo;
  });

  /** Adds `proposal` to the commit, by value. */
  function byValue(c: FramedContentCommit, proposal: Proposal): void {
    c.commit.proposals.push({ proposalOrRefType: "proposal", proposal });
  }

  const cases: [string, (c: FramedContentCommit) => void, string][] = [
    [
      "adds a device already in the group",
      (c) => byValue(c, { proposalType: "add", add: { keyPackage: bob.publicPackage } }),
      "already in the tree",
    ],
    [
      "adds a key package with a bad signature",
      (c) => {
        const kp = {
          ...carol.publicPackage,
          signature: carol.publicPackage.signature.map((x) => x ^ 1),
        };
        byValue(c, { proposalType: "add", add: { keyPackage: kp } });
      },
      "signature",
    ],
    [
      "removes the committer",
      (c) => byValue(c, { proposalType: "remove", remove: { removed: 0 } }),
      "committer",
    ],
    [
      "removes a blank leaf",
      (c) => byValue(c, { proposalType: "remove", remove: { removed: 9 } }),
      "blank leaf",
    ],
    [
      "removes one leaf twice",
      (c) => {
        for (let i = 0; i < 2; i++) byValue(c, { proposalType: "remove", remove: { removed: 1 } });
      },
      "two proposals",
    ],
    [
      "changes the group context extensions",
      (c) =>
        byValue(c, {
          proposalType: "group_context_extensions",
          groupContextExtensions: { extensions: [] },
        }),
      // Only a hub's own proposal may change them, by reference (mls/hubSenders.ts).
      "GroupContextExtensions proposal by value",
    ],
    [
      "carries an Update by value",
      (c) => {
        const leaf = a2.ratchetTree[0];
        if (leaf?.nodeType !== "leaf") throw new Error("leaf");
        const {
          hpkePublicKey,
          signaturePublicKey,
          credential,
          capabilities,
          extensions,
          signature,
        } = leaf.leaf;
        byValue(c, {
          proposalType: "update",
          update: {
            leafNode: {
              hpkePublicKey,
              signaturePublicKey,
              credential,
              capabilities,
              extensions,
              signature,
              leafNodeSource: "update",
            },
          },
        });
      },
      "by value",
    ],
    [
      "references a proposal the hub never saw",
      (c) =>
        c.commit.proposals.push({
          proposalOrRefType: "reference",
          reference: new Uint8Array(32).fill(7),
        }),
      "does not hold",
    ],
    [
      "removes a member without an UpdatePath",
      (c) => {
        byValue(c, { proposalType: "remove", remove: { removed: 1 } });
        c.commit.path = undefined;
      },
      "UpdatePath",
    ],
    [
      "is for another group",
      (c) => {
        c.groupId = new Uint8Array([1, 2, 3]);
      },
      "another group",
    ],
    [
      "swaps a key in its UpdatePath",
      (c) => {
        const node = c.commit.path?.nodes[0];
        if (node) node.hpkePublicKey = node.hpkePublicKey.map((x, i) => (i === 0 ? x ^ 1 : x));
      },
      "parent hash",
    ],
    [
      "keeps the committer's old encryption key",
      (c) => {
        const old = a2.ratchetTree[0];
        if (c.commit.path && old?.nodeType === "leaf")
          c.commit.path.leafNode = {
            ...c.commit.path.leafNode,
            hpkePublicKey: old.leaf.hpkePublicKey,
          };
      },
      "signature",
    ],
    [
      "leaves a member without the path secret",
      (c) => {
        const node = c.commit.path?.nodes.find((n) => n.encryptedPathSecret.length > 0);
        node?.encryptedPathSecret.pop();
      },
      "every member",
    ],
    [
      "drops a node from its UpdatePath",
      (c) => {
        c.commit.path?.nodes.pop();
      },
      "length",
    ],
  ];

  for (const [what, edit, reason] of cases) {
    it(`rejects a commit that ${what}`, async () => {
      const forged = await resign(base, alice, a2, edit);
      const r = room.checkCommit(forged, baseGi, []);
      expect(r).toMatchObject({ ok: false, code: "INVALID_COMMIT" });
      if (!r.ok) expect(r.message).toContain(reason);
    });
  }

  it("accepts the unedited re-signed commit (the harness itself is sound)", async () => {
    const same = await resign(base, alice, a2, () => {});
    expect(room.checkCommit(same, baseGi, []).ok).toBe(true);
  });
});

/** Bob's GroupInfo with one parent node edited, tree hash recomputed, re-signed by Bob. */
async function forgedParent(edit: (p: ParentNode) => ParentNode): Promise<Uint8Array> {
  const gi = await groupInfoOf(cs, b2);
  const tree = b2.ratchetTree.slice();
  const i = tree.findIndex((n) => n?.nodeType === "parent");
  const p = tree[i];
  if (p?.nodeType !== "parent") throw new Error("no parent node");
  tree[i] = { nodeType: "parent", parent: edit(p.parent) };
  const forged = await signGroupInfo(
    {
      ...gi,
      groupContext: { ...gi.groupContext, treeHash: await treeHashRoot(tree, cs.hash) },
      extensions: gi.extensions.map((e) =>
        e.extensionType === "ratchet_tree" ? { ...e, extensionData: encodeRatchetTree(tree) } : e,
      ),
    },
    bob.privatePackage.signaturePrivateKey,
    cs.signature,
  );
  return encodeGroupInfo(forged);
}

describe("fromGroupInfo on a forged tree", () => {
  it("rejects unmerged leaves that are not listed, non-blank descendants", async () => {
    for (const unmergedLeaves of [[7], [0, 0], [2]]) {
      const bytes = await forgedParent((p) => ({ ...p, unmergedLeaves }));
      expect(() => PublicGroup.fromGroupInfo(bytes)).toThrow(/unmerged leaves/);
    }
  });

  it("rejects a tree whose parent hashes do not chain, even with a matching tree hash", async () => {
    const bytes = await forgedParent((p) => ({ ...p, parentHash: new Uint8Array(32).fill(1) }));
    expect(() => PublicGroup.fromGroupInfo(bytes)).toThrow(/parent hashes/);
    expect(PublicGroup.fromGroupInfo(await groupInfoBytes(cs, b2)).epoch).toBe(2n);
  });
});
