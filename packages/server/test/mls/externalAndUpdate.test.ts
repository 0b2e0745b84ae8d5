import { toHex as hex } from "@kalandra/proto";
import {
  type CiphersuiteImpl,
  type ClientState,
  decodeMlsMessage,
  encodeMlsMessage,
  joinGroupExternal,
} from "ts-mls";
import { signWithLabel } from "ts-mls/crypto/signature.js";
import { signFramedContentTBS } from "ts-mls/framedContent.js";
import { encodeLeafNodeTBS, type LeafNode } from "ts-mls/leafNode.js";
import { beforeAll, describe, expect, it } from "vitest";
import type { PublicGroup } from "../../src/mls/index.js";
import {
  commit,
  type Device,
  device,
  externalJoin,
  groupInfoBytes,
  groupInfoOf,
  memberProposal,
  process,
  roomOfThree,
} from "./mlsClients.js";

let cs: CiphersuiteImpl;
let bob: Device;
let carol: Device;
let room: PublicGroup; // epoch 1: alice, bob, carol
let a1: ClientState;
let b1: ClientState;
let c1: ClientState;

beforeAll(async () => {
  ({ cs, bob, carol, room, a1, b1, c1 } = await roomOfThree());
});

/** An Update leaf node for `leafIndex` with a fresh encryption key, signed by its owner. */
async function updateLeaf(state: ClientState, d: Device, leafIndex: number): Promise<LeafNode> {
  const old = state.ratchetTree[leafIndex * 2];
  if (old?.nodeType !== "leaf") throw new Error("no leaf");
  const fresh = await cs.hpke.generateKeyPair();
  const tbs = {
    ...old.leaf,
    leafNodeSource: "update" as const,
    hpkePublicKey: await cs.hpke.exportPublicKey(fresh.publicKey),
    groupId: state.groupContext.groupId,
    leafIndex,
  };
  const signature = await signWithLabel(
    d.privatePackage.signaturePrivateKey,
    "LeafNodeTBS",
    encodeLeafNodeTBS(tbs),
    cs.signature,
  );
  const { groupId: _g, leafIndex: _l, ...leaf } = tbs;
  return { ...leaf, signature } as LeafNode;
}

describe("Update proposals", () => {
  it("accepts a member's Update and a commit by another member that applies it", async () => {
    const leaf = await updateLeaf(b1, bob, 1);
    const p = await memberProposal(cs, b1, {
      proposalType: "update",
      update: { leafNode: leaf as never },
    });
    const pc = room.checkProposal(p.bytes);
    expect(pc).toMatchObject({ ok: true, proposal: { type: "update", senderLeaf: 1 } });
    if (!pc.ok) return;
    const a2 = await process(cs, a1, p.message);
    const c = await commit(cs, a2);
    const r = room.checkCommit(c.commit, c.groupInfo, [pc.ref], [p.bytes]);
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    expect(hex(r.treeHash)).toBe(hex(c.state.groupContext.treeHash));
    const c2 = await process(cs, c1, p.message);
    expect(hex((await process(cs, c2, c.commitMessage)).groupContext.treeHash)).toBe(
      hex(r.treeHash),
    );
  });

  it("rejects an Update signed for another leaf or by another key", async () => {
    const wrongIndex = await updateLeaf(b1, bob, 2);
    const p1 = await memberProposal(cs, b1, {
      proposalType: "update",
      update: { leafNode: wrongIndex as never },
    });
    expect(room.checkProposal(p1.bytes)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
    // Carol's signature key in an Update sent by Bob: key already held by another leaf.
    const carols = await updateLeaf(c1, carol, 1);
    const p2 = await memberProposal(cs, b1, {
      proposalType: "update",
      update: { leafNode: carols as never },
    });
    expect(room.checkProposal(p2.bytes)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
  });
});

describe("external commits", () => {
  it("accepts a resync that replaces the joiner's own old leaf", async () => {
    // Carol rejoins with her original key package: ts-mls removes her old leaf (resync).
    const gi = await groupInfoOf(cs, a1);
    const res = await joinGroupExternal(gi, carol.publicPackage, carol.privatePackage, true, cs);
    const msg = encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_public_message",
      publicMessage: res.publicMessage,
    });
    const r = room.checkExternalCommit(msg, await groupInfoBytes(cs, res.newState));
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    expect(r.removedLeaves).toEqual([2]);
    expect(r.addedMembers.map((m) => m.userId)).toEqual(["carol"]);
    expect(hex(r.treeHash)).toBe(hex(res.newState.groupContext.treeHash));
  });

  it("rejects an external commit that removes another user's leaf", async () => {
    const dave = await device(cs, "dave");
    const ext = await externalJoin(cs, dave, a1);
    const decoded = decodeMlsMessage(ext.commit.slice(), 0)?.[0];
    if (decoded?.wireformat !== "mls_public_message") throw new Error("not public");
    const content = decoded.publicMessage.content;
    if (content.contentType !== "commit") throw new Error("not a commit");
    content.commit.proposals.push({
      proposalOrRefType: "proposal",
      proposal: { proposalType: "remove", remove: { removed: 1 } },
    });
    // Re-signed by Dave, so only the rule itself can refuse it.
    decoded.publicMessage.auth.signature = await signFramedContentTBS(
      dave.privatePackage.signaturePrivateKey,
      {
        protocolVersion: "mls10",
        wireformat: "mls_public_message",
        content,
        senderType: "new_member_commit",
        context: a1.groupContext,
      },
      cs.signature,
    );
    const r = room.checkExternalCommit(encodeMlsMessage(decoded), ext.groupInfo);
    expect(r).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
      message: expect.stringMatching(/another user/),
    });
  });

  it("rejects an external commit at a stale epoch or with a forged signature", async () => {
    const dave = await device(cs, "dave");
    const ext = await externalJoin(cs, dave, a1);
    const c = await commit(cs, b1);
    const r = room.checkCommit(c.commit, c.groupInfo, []);
    if (!r.ok) throw new Error(r.message);
    expect(r.next.checkExternalCommit(ext.commit, ext.groupInfo)).toMatchObject({
      ok: false,
      code: "STALE_EPOCH",
      expected: 2n,
    });
    const forged = ext.commit.slice();
    // The signature sits before the confirmation tag at the end: flip a byte inside it.
    forged[forged.length - 40] = (forged[forged.length - 40] as number) ^ 1;
    expect(room.checkExternalCommit(forged, ext.groupInfo)).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
    });
    expect(room.checkExternalCommit(ext.commit, ext.groupInfo).ok).toBe(true);
    // A GroupInfo signed by someone else than the joiner.
    expect(room.checkExternalCommit(ext.commit, await groupInfoBytes(cs, a1))).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
  });
});
