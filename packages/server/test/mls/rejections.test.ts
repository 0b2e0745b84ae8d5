import { toHex as hex } from "@kalandra/proto";
import fc from "fast-check";
import {
  type CiphersuiteImpl,
  type ClientState,
  decodeMlsMessage,
  encodeMlsMessage,
  type MLSMessage,
} from "ts-mls";
import { signGroupInfo } from "ts-mls/groupInfo.js";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { beforeAll, describe, expect, it } from "vitest";
import { MlsViewError, PublicGroup } from "../../src/mls/index.js";
import {
  commit,
  encodeGroupInfo,
  groupInfoBytes,
  groupInfoOf,
  type Hub,
  hubKeys,
  hubRemove,
  type MadeCommit,
  memberProposal,
  process,
  roomOfThree,
} from "./mlsClients.js";

function decode(b: Uint8Array): MLSMessage {
  const d = decodeMlsMessage(b, 0);
  if (d === undefined) throw new Error("test message does not decode");
  return d[0];
}

/** Decode a PublicMessage, let `edit` change it, re-encode. */
function tamper(
  b: Uint8Array,
  edit: (m: MLSMessage & { wireformat: "mls_public_message" }) => void,
): Uint8Array {
  // Decoders return views into their input: work on a copy.
  const m = decode(b.slice());
  if (m.wireformat !== "mls_public_message") throw new Error("not public");
  edit(m);
  return encodeMlsMessage(m);
}

function flip(b: Uint8Array, i: number): void {
  b[i] = (b[i] as number) ^ 0x40;
}

let cs: CiphersuiteImpl;
let hub: Hub;
let room0: PublicGroup; // epoch 0: alice
let room: PublicGroup; // epoch 1: alice, bob, carol
let a1: ClientState;
let b1: ClientState;
let c1: ClientState;
let staleCommit: MadeCommit; // a second commit made by alice at epoch 0

beforeAll(async () => {
  const r = await roomOfThree();
  ({ cs, hub, room0, room, a1, b1, c1 } = r);
  staleCommit = await commit(cs, r.a0);
});

describe("fromGroupInfo", () => {
  it("rejects a group that does not list the hub", async () => {
    const other = await hubKeys(cs);
    const gi = await groupInfoBytes(cs, a1);
    expect(() => PublicGroup.fromGroupInfo(gi, other.publicKey)).toThrow(MlsViewError);
    expect(PublicGroup.fromGroupInfo(gi, hub.publicKey).epoch).toBe(1n);
  });

  it("rejects a GroupInfo whose tree does not match its tree hash", async () => {
    const gi = await groupInfoOf(cs, a1);
    const forged = { ...gi, groupContext: { ...gi.groupContext, treeHash: new Uint8Array(32) } };
    const resigned = await signGroupInfo(forged, a1.signaturePrivateKey, cs.signature);
    expect(() => PublicGroup.fromGroupInfo(encodeGroupInfo(resigned))).toThrow(/tree hash/);
  });

  it("rejects a GroupInfo with a bad signature, without a tree, or of another kind", async () => {
    const gi = await groupInfoOf(cs, a1);
    const badSig = { ...gi, signature: gi.signature.map((x, i) => (i === 0 ? x ^ 1 : x)) };
    expect(() => PublicGroup.fromGroupInfo(encodeGroupInfo(badSig))).toThrow(/signature/);
    const noTree = {
      ...gi,
      extensions: gi.extensions.filter((e) => e.extensionType !== "ratchet_tree"),
    };
    expect(() => PublicGroup.fromGroupInfo(encodeGroupInfo(noTree))).toThrow(/ratchet_tree/);
    expect(() => PublicGroup.fromGroupInfo(new Uint8Array([1, 2, 3]))).toThrow(MlsViewError);
    const add = await commit(cs, a1);
    expect(() => PublicGroup.fromGroupInfo(add.commit)).toThrow(/not a GroupInfo/);
  });

  it("reports members with sender ids and lookups", () => {
    const members = room.members();
    expect(members.map((m) => [m.leafIndex, m.userId])).toEqual([
      [0, "alice"],
      [1, "bob"],
      [2, "carol"],
    ]);
    for (const m of members) {
      expect(m.signatureKey.length).toBe(32);
      expect(room.leafBySignatureKey(m.signatureKey)).toBe(m.leafIndex);
      expect(room.leafBySenderId(m.senderId)).toBe(m.leafIndex);
    }
    expect(room.leafBySenderId(12345n)).toBeUndefined();
    expect(room.leafBySignatureKey(new Uint8Array(32))).toBeUndefined();
  });
});

describe("checkCommit rejections", () => {
  it("rejects a commit from a stale epoch with the expected epoch", () => {
    expect(room.checkCommit(staleCommit.commit, staleCommit.groupInfo, [])).toMatchObject({
      ok: false,
      code: "STALE_EPOCH",
      expected: 1n,
    });
  });

  it("rejects a forged signature", async () => {
    const c = await commit(cs, b1);
    const forged = tamper(c.commit, (m) => {
      flip(m.publicMessage.auth.signature, 5);
    });
    expect(room.checkCommit(forged, c.groupInfo, [])).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
    });
    expect(room.checkCommit(c.commit, c.groupInfo, []).ok).toBe(true);
  });

  it("rejects a sender that is not a member", async () => {
    const c = await commit(cs, b1);
    const forged = tamper(c.commit, (m) => {
      if (m.publicMessage.content.sender.senderType === "member")
        m.publicMessage.content.sender.leafIndex = 9;
    });
    expect(room.checkCommit(forged, c.groupInfo, [])).toMatchObject({
      ok: false,
      code: "NOT_MEMBER",
    });
  });

  it("rejects a commit that leaves out a pending proposal", async () => {
    const rm = await hubRemove(cs, hub, a1, 2);
    const pc = room.checkProposal(rm.bytes);
    if (!pc.ok) throw new Error(pc.message);
    // Bob never saw the proposal: his commit does not reference it.
    const c = await commit(cs, b1);
    expect(room.checkCommit(c.commit, c.groupInfo, [pc.ref], [rm.bytes])).toMatchObject({
      ok: false,
      code: "MISSING_PROPOSALS",
    });
    // Alice saw it: her commit covers it, and the pending message is needed to apply it.
    const a = await commit(cs, await process(cs, a1, rm.message));
    expect(room.checkCommit(a.commit, a.groupInfo, [pc.ref])).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
    });
    const ok = room.checkCommit(a.commit, a.groupInfo, [pc.ref], [rm.bytes]);
    expect(ok).toMatchObject({ ok: true, removedLeaves: [2] });
    if (ok.ok) expect(ok.removedMembers[0]?.userId).toBe("carol");
  });

  it("rejects a GroupInfo with a forged tree, even when signed by the committer", async () => {
    const c = await commit(cs, b1);
    const gi = await groupInfoOf(cs, c.state);
    // The tree before the commit, with a tree hash to match: self-consistent but wrong.
    const oldTree = encodeRatchetTree(a1.ratchetTree);
    const forgedTree = {
      ...gi,
      extensions: gi.extensions.map((e) =>
        e.extensionType === "ratchet_tree" ? { ...e, extensionData: oldTree } : e,
      ),
    };
    const r1 = room.checkCommit(
      c.commit,
      encodeGroupInfo(await signGroupInfo(forgedTree, b1.signaturePrivateKey, cs.signature)),
      [],
    );
    expect(r1).toMatchObject({ ok: false, code: "INVALID_GROUP_INFO" });
    const forgedHash = {
      ...forgedTree,
      groupContext: { ...gi.groupContext, treeHash: a1.groupContext.treeHash },
    };
    const r2 = room.checkCommit(
      c.commit,
      encodeGroupInfo(await signGroupInfo(forgedHash, b1.signaturePrivateKey, cs.signature)),
      [],
    );
    expect(r2).toMatchObject({ ok: false, code: "INVALID_GROUP_INFO" });
    const wrongEpoch = { ...gi, groupContext: { ...gi.groupContext, epoch: 7n } };
    const r3 = room.checkCommit(
      c.commit,
      encodeGroupInfo(await signGroupInfo(wrongEpoch, b1.signaturePrivateKey, cs.signature)),
      [],
    );
    expect(r3).toMatchObject({ ok: false, code: "INVALID_GROUP_INFO" });
    const wrongTag = { ...gi, confirmationTag: new Uint8Array(32) };
    const r4 = room.checkCommit(
      c.commit,
      encodeGroupInfo(await signGroupInfo(wrongTag, b1.signaturePrivateKey, cs.signature)),
      [],
    );
    expect(r4).toMatchObject({ ok: false, code: "INVALID_GROUP_INFO" });
    expect(room.checkCommit(c.commit, await groupInfoBytes(cs, a1), [])).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
  });

  it("rejects a GroupInfo not signed by the committer", async () => {
    const c = await commit(cs, b1);
    // Alice processes Bob's commit and exports the same epoch's GroupInfo: signer is Alice.
    const a2 = await process(cs, a1, c.commitMessage);
    const byAlice = await groupInfoBytes(cs, a2);
    expect(room.checkCommit(c.commit, byAlice, [])).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
    const gi = await groupInfoOf(cs, c.state);
    const signedByOther = await signGroupInfo(gi, a1.signaturePrivateKey, cs.signature);
    expect(room.checkCommit(c.commit, encodeGroupInfo(signedByOther), [])).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
  });

  it("rejects a proposal or external commit passed as a commit, and vice versa", async () => {
    const rm = await hubRemove(cs, hub, a1, 2);
    const c = await commit(cs, b1);
    expect(room.checkCommit(rm.bytes, c.groupInfo, [])).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
    });
    expect(room.checkExternalCommit(c.commit, c.groupInfo)).toMatchObject({
      ok: false,
      code: "INVALID_COMMIT",
    });
    expect(room.checkProposal(c.commit)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
    expect(room.checkCommit(c.commit, c.commit, [])).toMatchObject({
      ok: false,
      code: "INVALID_GROUP_INFO",
    });
  });
});

describe("checkProposal", () => {
  it("accepts member proposals and applies an Update committed by another member", async () => {
    const p = await memberProposal(cs, c1, { proposalType: "remove", remove: { removed: 1 } });
    const pc = room.checkProposal(p.bytes);
    expect(pc).toMatchObject({
      ok: true,
      proposal: { type: "remove", removedLeaf: 1, senderLeaf: 2 },
    });
  });

  it("rejects proposals from another epoch, a non-member, with a bad signature or a blank target", async () => {
    const rm = await hubRemove(cs, hub, a1, 2);
    expect(room0.checkProposal(rm.bytes)).toMatchObject({
      ok: false,
      code: "WRONG_EPOCH",
      expected: 0n,
    });
    const badTarget = await hubRemove(cs, hub, a1, 6);
    expect(room.checkProposal(badTarget.bytes)).toMatchObject({
      ok: false,
      code: "INVALID_PROPOSAL",
    });
    const forged = tamper(rm.bytes, (m) => {
      flip(m.publicMessage.auth.signature, 0);
    });
    expect(room.checkProposal(forged)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
    const notHub = tamper(rm.bytes, (m) => {
      if (m.publicMessage.content.sender.senderType === "external")
        m.publicMessage.content.sender.senderIndex = 3;
    });
    expect(room.checkProposal(notHub)).toMatchObject({ ok: false, code: "NOT_MEMBER" });
    const p = await memberProposal(cs, c1, { proposalType: "remove", remove: { removed: 1 } });
    const ghost = tamper(p.bytes, (m) => {
      if (m.publicMessage.content.sender.senderType === "member")
        m.publicMessage.content.sender.leafIndex = 5;
    });
    expect(room.checkProposal(ghost)).toMatchObject({ ok: false, code: "NOT_MEMBER" });
  });

  it("refuses proposal types the hub cannot check", async () => {
    const p = await memberProposal(cs, c1, {
      proposalType: "group_context_extensions",
      groupContextExtensions: { extensions: [] },
    });
    expect(room.checkProposal(p.bytes)).toMatchObject({ ok: false, code: "INVALID_PROPOSAL" });
  });
});

describe("hostile input", () => {
  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(room.checkProposal(a).ok).toBe(false);
        expect(room.checkCommit(a, b, [b], [a]).ok).toBe(false);
        expect(room.checkExternalCommit(a, b).ok).toBe(false);
        expect(() => PublicGroup.decode(a)).toThrow(MlsViewError);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });

  it("restores persisted state or throws MlsViewError, whatever the bytes", () => {
    const stored = room.encode();
    expect(PublicGroup.decode(stored).members()).toEqual(room.members());
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: 8 }), (pos, x, cut) => {
        const b = stored.slice(0, stored.length - cut);
        b[pos % b.length] = (b[pos % b.length] as number) ^ x;
        try {
          const g = PublicGroup.decode(b);
          // A change that still decodes cannot have touched the tree (its hash is checked).
          expect(hex(g.treeHash)).toBe(hex(room.treeHash));
        } catch (e) {
          expect(e).toBeInstanceOf(MlsViewError);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("never throws on mutated valid messages, and rejects any change the signatures cover", async () => {
    const c = await commit(cs, b1);
    const rm = await hubRemove(cs, hub, a1, 2);
    const tagStart = c.commit.length - 32; // a member commit ends with its membership_tag
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const i = pos % c.commit.length;
        const m = c.commit.slice();
        m[i] = (m[i] as number) ^ x;
        const r = room.checkCommit(m, c.groupInfo, []);
        // Only the membership_tag is outside the hub's reach (RFC 9420 §6.2).
        if (i < tagStart) expect(r.ok).toBe(false);
        const g = c.groupInfo.slice();
        g[pos % g.length] = (g[pos % g.length] as number) ^ x;
        expect(room.checkCommit(c.commit, g, []).ok).toBe(false);
        const p = rm.bytes.slice();
        p[pos % p.length] = (p[pos % p.length] as number) ^ x;
        expect(room.checkProposal(p).ok).toBe(false);
      }),
      { numRuns: 150, seed: 42 },
    );
    expect(hex(room.treeHash)).toBe(hex(a1.groupContext.treeHash));
  });
});
