/**
 * The commit-processing cuts in the ts-mls patch (issue 15, docs/performance.md
 * "10,000-member rooms"), each against the path it replaces:
 * - key uniqueness scanned on bytes (buckets of their first bytes) instead of base64
 *   strings: the same answer, first error included, as upstream's scan for any tree,
 *   duplicate keys and exempt leaf (property test against a copy of upstream's code);
 * - a FramedContent encoded once per object: the bytes equal a fresh encoding of an equal
 *   object, and a message still re-encodes to its own bytes;
 * - the new tree hash reused from the path step: members still agree after commits;
 * - a parent hash whose parent lists no unmerged leaves computed on the tree itself, not on a
 *   copy with nothing removed: equal to upstream's for every node of real trees;
 * - an UpdatePath key already held by a parent of the tree still refused (one pass now);
 * - enum decoders with their reverse maps built once: same answers, unknown values included.
 */
import fc from "fast-check";
import {
  acceptAll,
  createCommit,
  createGroup,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroup,
  processMessage,
} from "ts-mls";
import { validateLeafNodeCredentialAndKeyUniqueness } from "ts-mls/clientState.js";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeCredentialType } from "ts-mls/credentialType.js";
import { encodeFramedContent } from "ts-mls/framedContent.js";
import type { LeafNode } from "ts-mls/leafNode.js";
import { calculateParentHash, parentHashInputEncoder } from "ts-mls/parentHash.js";
import { findFirstNonBlankAncestor, type RatchetTree, removeLeaves } from "ts-mls/ratchetTree.js";
import { treeHash } from "ts-mls/treeHash.js";
import { leafWidth, left, right, root } from "ts-mls/treemath.js";
import { applyUpdatePath } from "ts-mls/updatePath.js";
import { describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { type Member, newMember } from "./mlsFixtures.js";

const cs = getKalandraCiphersuiteImpl();
const enc = new TextEncoder();

/** Upstream ts-mls 1.6.4's scan (clientState.js), with base64 strings: the reference. */
function upstreamScan(
  tree: RatchetTree,
  leafNode: LeafNode,
  existingLeafIndex: number | undefined,
): string | undefined {
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const hpkeKeys = new Set<string>();
  const signatureKeys = new Set<string>();
  for (const [nodeIndex, node] of tree.entries()) {
    if (node?.nodeType === "leaf") {
      if (!node.leaf.capabilities.credentials.includes(leafNode.credential.credentialType))
        return "LeafNode has credential that is not supported by member of the group";
      const hpkeKey = b64(node.leaf.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey)) return "hpke keys not unique";
      hpkeKeys.add(hpkeKey);
      const signatureKey = b64(node.leaf.signaturePublicKey);
      if (signatureKeys.has(signatureKey) && existingLeafIndex !== nodeIndex / 2)
        return "signature keys not unique";
      signatureKeys.add(signatureKey);
    } else if (node?.nodeType === "parent") {
      const hpkeKey = b64(node.parent.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey)) return "hpke keys not unique";
      hpkeKeys.add(hpkeKey);
    }
  }
  return undefined;
}

// Keys from a small universe (sharing first bytes, of several lengths) so trees repeat them.
const KEYS = [
  [1, 2, 3, 4, 5],
  [1, 2, 3, 4, 6],
  [1, 2, 3],
  [9, 9, 9, 9, 9, 9],
  [1, 2, 3, 7, 5],
].map((k) => Uint8Array.from(k));
const key = fc.nat(KEYS.length - 1).map((i) => KEYS[i] as Uint8Array);

const leaf = fc.record({ hpke: key, sig: key, x509: fc.boolean() }).map(
  ({ hpke, sig, x509 }) =>
    ({
      hpkePublicKey: hpke,
      signaturePublicKey: sig,
      capabilities: { credentials: x509 ? ["basic", "x509"] : ["basic"] },
      credential: { credentialType: "basic" },
    }) as unknown as LeafNode,
);
const node = fc.oneof(
  fc.constant(undefined),
  leaf.map((l) => ({ nodeType: "leaf" as const, leaf: l })),
  key.map((k) => ({
    nodeType: "parent" as const,
    parent: { hpkePublicKey: k, parentHash: new Uint8Array(0), unmergedLeaves: [] },
  })),
);

describe("key uniqueness scan on bytes", () => {
  it("gives upstream's answer for any tree, leaf credential and exempt leaf", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(node, { maxLength: 15 }),
        fc.constantFrom("basic", "x509"),
        fc.option(fc.nat(8), { nil: undefined }),
        async (tree, credentialType, existing) => {
          const newLeaf = { credential: { credentialType } } as unknown as LeafNode;
          const ours = await validateLeafNodeCredentialAndKeyUniqueness(
            tree as RatchetTree,
            newLeaf,
            existing as never,
          );
          expect(ours?.message).toBe(upstreamScan(tree as RatchetTree, newLeaf, existing));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("commits processed with one FramedContent encoding", () => {
  it("encodes a decoded commit's content as a fresh copy encodes, and members agree", async () => {
    const alice = await newMember("alice", cs);
    const bob = await newMember("bob", cs);
    const carol = await newMember("carol", cs);
    let a = await createGroup(enc.encode("g"), alice.publicPackage, alice.privatePackage, [], cs);
    const add = await createCommit(
      { state: a, cipherSuite: cs },
      {
        wireAsPublicMessage: true,
        ratchetTreeExtension: true,
        extraProposals: [bob, carol].map((m) => ({
          proposalType: "add" as const,
          add: { keyPackage: m.publicPackage },
        })),
      },
    );
    a = add.newState;
    if (add.welcome === undefined) throw new Error("no Welcome");
    let b = await joinGroup(add.welcome, bob.publicPackage, bob.privatePackage, emptyPskIndex, cs);
    for (let round = 0; round < 3; round++) {
      const c = await createCommit({ state: a, cipherSuite: cs }, { wireAsPublicMessage: true });
      const bytes = encodeMlsMessage(c.commit);
      const decoded = decodeMlsMessage(bytes, 0)?.[0];
      if (decoded?.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
      const content = decoded.publicMessage.content;
      const once = encodeFramedContent(content);
      expect(encodeFramedContent(content)).toEqual(once);
      expect(encodeFramedContent(structuredClone(content))).toEqual(once);
      expect(encodeMlsMessage(decoded)).toEqual(bytes);
      const processed = await processMessage(decoded, b, emptyPskIndex, acceptAll, cs);
      if (processed.kind !== "newState") throw new Error("not a handshake");
      b = processed.newState;
      a = c.newState;
      expect(b.groupContext.treeHash).toEqual(a.groupContext.treeHash);
      expect(b.keySchedule.epochAuthenticator).toEqual(a.keySchedule.epochAuthenticator);
    }
  });
});

/** Upstream's calculateParentHash: the sibling's hash always on removeLeaves' copy. */
async function upstreamParentHash(tree: RatchetTree, nodeIndex: number): Promise<Uint8Array> {
  if (nodeIndex === root(leafWidth(tree.length))) return new Uint8Array();
  const p = findFirstNonBlankAncestor(tree, nodeIndex as never);
  const parent = tree[p];
  if (parent === undefined) return new Uint8Array();
  if (parent.nodeType !== "parent") throw new Error("leaf as ancestor");
  const sibling = nodeIndex < p ? right(p as never) : left(p as never);
  const removed = removeLeaves(tree, parent.parent.unmergedLeaves as never);
  const originalSiblingTreeHash = await treeHash(removed, sibling as never, cs.hash);
  return cs.hash.digest(
    encode(parentHashInputEncoder)({
      encryptionKey: parent.parent.hpkePublicKey,
      parentHash: parent.parent.parentHash,
      originalSiblingTreeHash,
    }),
  );
}

describe("UpdatePaths on 11-member trees with blank and unmerged nodes", () => {
  it("computes upstream's parent hash at every node, and refuses a path key a parent holds", async () => {
    const names = Array.from({ length: 11 }, (_, i) => `m${i}`);
    const ms: Member[] = [];
    for (const n of names) ms.push(await newMember(n, cs));
    const [first, ...others] = ms as [Member, ...Member[]];
    let a = await createGroup(enc.encode("h"), first.publicPackage, first.privatePackage, [], cs);
    // Adds, a path commit, adds: the second batch sits unmerged under the path's parents.
    const addAll = async (batch: typeof others) =>
      (
        await createCommit(
          { state: a, cipherSuite: cs },
          {
            wireAsPublicMessage: true,
            ratchetTreeExtension: true,
            extraProposals: batch.map((m) => ({
              proposalType: "add" as const,
              add: { keyPackage: m.publicPackage },
            })),
          },
        )
      ).newState;
    a = await addAll(others.slice(0, 5));
    a = (await createCommit({ state: a, cipherSuite: cs }, { wireAsPublicMessage: true })).newState;
    a = await addAll(others.slice(5));
    const tree = a.ratchetTree;
    const parents = tree.flatMap((n) => (n?.nodeType === "parent" ? [n.parent] : []));
    expect(parents.some((p) => p.unmergedLeaves.length > 0)).toBe(true);
    expect(parents.some((p) => p.unmergedLeaves.length === 0)).toBe(true);
    for (let i = 0; i < tree.length; i++) {
      const [ours] = await calculateParentHash(tree, i as never, cs.hash);
      expect(ours).toEqual(await upstreamParentHash(tree, i));
    }

    const c = await createCommit({ state: a, cipherSuite: cs }, { wireAsPublicMessage: true });
    if (c.commit.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
    const content = c.commit.publicMessage.content;
    if (content.contentType !== "commit" || content.commit.path === undefined)
      throw new Error("no path");
    const path = content.commit.path;
    await expect(applyUpdatePath(tree, 0 as never, path, cs.hash)).resolves.toBeDefined();
    const held = parents[parents.length - 1]?.hpkePublicKey as Uint8Array;
    const forged = {
      ...path,
      nodes: path.nodes.map((n, i) =>
        i === path.nodes.length - 1 ? { ...n, hpkePublicKey: held } : n,
      ),
    };
    await expect(applyUpdatePath(tree, 0 as never, forged, cs.hash)).rejects.toThrow(
      "Public keys in the UpdatePath may not appear",
    );
  });
});

describe("enum decoders", () => {
  it("decode known and unknown credential types as before", () => {
    const at = (n: number) => decodeCredentialType(Uint8Array.of(n >> 8, n & 0xff), 0)?.[0];
    expect(at(1)).toBe("basic");
    expect(at(2)).toBe("x509");
    expect(at(0x0a0a)).toBe("2570");
  });
});
