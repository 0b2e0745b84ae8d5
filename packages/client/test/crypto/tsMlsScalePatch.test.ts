/**
 * The large-group fixes in the ts-mls patch (issue 15, docs/performance.md "Scale: large
 * rooms"):
 * - the TLS vector encoder chained one closure per element, so writing a vector of more than
 *   ~9,000 elements (the ratchet tree of a 5,000-member group: GroupInfo, Welcome, stored
 *   state) overflowed the stack; it now loops over a list of writers;
 * - the checks of a commit's Add proposals ran in O(k·n) (k adds, n members) and O(k²): the
 *   tree scan of `validateLeafNodeCredentialAndKeyUniqueness` is kept per tree, the "same
 *   client" checks use key sets, and the Welcome finds each joiner's path secret on the
 *   committer's filtered direct path computed once. They must refuse and accept the same
 *   commits as before, and every joiner must still get its own path secret.
 */
import {
  acceptAll,
  type ClientState,
  createCommit,
  createGroup,
  emptyPskIndex,
  joinGroup,
  mlsExporter,
  type Proposal,
  processMessage,
} from "ts-mls";
import { addHistoricalReceiverData } from "ts-mls/clientState.js";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeVarLenType, varLenTypeEncoder } from "ts-mls/codec/variableLength.js";
import type { EpochReceiverData } from "ts-mls/epochReceiverData.js";
import { decodeRatchetTree, type RatchetTree, ratchetTreeEncoder } from "ts-mls/ratchetTree.js";
import { createSecretTree } from "ts-mls/secretTree.js";
import { describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { type Member, newMember } from "./mlsFixtures.js";

const cs = getKalandraCiphersuiteImpl();
const enc = new TextEncoder();

/** A one-byte element: the smallest encoder, so the vector's length is what is tested. */
const byteEncoder = (b: number): [number, (offset: number, buffer: ArrayBuffer) => void] => [
  1,
  (offset, buffer) => {
    new Uint8Array(buffer)[offset] = b;
  },
];
const byteDecoder = (b: Uint8Array, offset: number): [number, number] | undefined =>
  offset < b.length ? [b[offset] as number, 1] : undefined;

describe("TLS vectors of any length (RFC 9420 §2.1.2)", () => {
  it("writes a 200,000-element vector without overflowing the stack, and reads it back", () => {
    const items = Array.from({ length: 200_000 }, (_, i) => i & 0xff);
    const bytes = encode(varLenTypeEncoder(byteEncoder))(items);
    expect(bytes.length).toBe(4 + items.length);
    expect(decodeVarLenType(byteDecoder)(bytes, 0)?.[0]).toEqual(items);
  });

  it("writes and reads the ratchet tree of a 10,000-leaf group (19,999 nodes)", async () => {
    const { leafNode } = (await member("leaf")).publicPackage;
    const tree: RatchetTree = Array.from({ length: 19_999 }, (_, i) =>
      i % 2 === 0 ? { nodeType: "leaf" as const, leaf: leafNode } : undefined,
    );
    const bytes = encode(ratchetTreeEncoder)(tree);
    // The decoder pads the tree to a full binary tree of blanks (32,767 nodes).
    const decoded = decodeRatchetTree(bytes, 0)?.[0] ?? [];
    expect(decoded.filter((n) => n !== undefined).length).toBe(10_000);
  });
});

const member = (name: string): Promise<Member> => newMember(name, cs);

function adds(members: Member[]): Proposal[] {
  return members.map((m) => ({ proposalType: "add", add: { keyPackage: m.publicPackage } }));
}

async function commitWith(state: ClientState, proposals: Proposal[]) {
  return createCommit(
    { state, cipherSuite: cs },
    { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: proposals },
  );
}

/** A group of `size` members grown one Add at a time, so its tree has non-blank parents. */
async function grown(size: number): Promise<{ state: ClientState; members: Member[] }> {
  const creator = await member("m0");
  let state = await createGroup(
    enc.encode("scale-patch"),
    creator.publicPackage,
    creator.privatePackage,
    [],
    cs,
  );
  const members = [creator];
  for (let i = 1; i < size; i++) {
    const m = await member(`m${i}`);
    state = (await commitWith(state, adds([m]))).newState;
    members.push(m);
  }
  return { state, members };
}

describe("epochs of a 10,000-member group", () => {
  it("drops the oldest epoch's receiver data without overflowing the stack", async () => {
    // Each epoch keeps its secret tree (2n-1 nodes); past keyRetentionConfig's epochs the
    // oldest is dropped. Its secrets were collected with push(...values): a RangeError
    // from ~8,000 members on, at the fifth commit.
    const tree = await createSecretTree(16_384, new Uint8Array(32), cs.kdf);
    const receiverData = { secretTree: tree } as unknown as EpochReceiverData;
    const history = new Map([0n, 1n, 2n, 3n].map((e) => [e, receiverData]));
    const state = {
      historicalReceiverData: history,
      groupContext: { epoch: 4n },
      secretTree: tree,
      ratchetTree: [],
      keySchedule: { senderDataSecret: new Uint8Array(32), resumptionPsk: new Uint8Array(32) },
      clientConfig: { keyRetentionConfig: { retainKeysForEpochs: 4 } },
    } as unknown as ClientState;
    const [kept] = addHistoricalReceiverData(state);
    expect([...kept.keys()]).toEqual([1n, 2n, 3n, 4n]);
  });
});

describe("commits adding many members", () => {
  it("refuses two Adds of the same client in one commit", async () => {
    const { state } = await grown(3);
    const twice = await member("twice");
    await expect(commitWith(state, adds([twice, twice]))).rejects.toThrow(/multiple Add proposals/);
  });

  it("refuses an Add of a client already in the group, unless the commit removes it", async () => {
    const { state, members } = await grown(4);
    const inGroup = members[2] as Member;
    await expect(commitWith(state, adds([inGroup]))).rejects.toThrow(/already in the group/);
    const readd = await commitWith(state, [
      { proposalType: "remove", remove: { removed: 2 } },
      ...adds([inGroup]),
    ]);
    expect(readd.newState.groupContext.epoch).toBe(state.groupContext.epoch + 1n);
  });

  it("gives every joiner of a 24-member Add its path secret: all reach the same epoch", async () => {
    const { state } = await grown(5);
    const joiners: Member[] = [];
    for (let i = 0; i < 24; i++) joiners.push(await member(`j${i}`));
    const res = await commitWith(state, adds(joiners));
    const welcome = res.welcome;
    if (welcome === undefined) throw new Error("no Welcome");
    const secret = (s: ClientState) =>
      mlsExporter(s.keySchedule.exporterSecret, "t", new Uint8Array(), 32, cs);
    const expected = await secret(res.newState);
    for (const j of joiners) {
      const joined = await joinGroup(welcome, j.publicPackage, j.privatePackage, emptyPskIndex, cs);
      expect(await secret(joined)).toEqual(expected);
    }
    // The last joiner commits with an UpdatePath; the committer of the Add follows it.
    const last = joiners[joiners.length - 1] as Member;
    const joined = await joinGroup(
      welcome,
      last.publicPackage,
      last.privatePackage,
      emptyPskIndex,
      cs,
    );
    const next = await commitWith(joined, []);
    if (next.commit.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
    const processed = await processMessage(next.commit, res.newState, emptyPskIndex, acceptAll, cs);
    if (processed.kind !== "newState") throw new Error("commit not processed");
    expect(await secret(processed.newState)).toEqual(await secret(next.newState));
  });
});
