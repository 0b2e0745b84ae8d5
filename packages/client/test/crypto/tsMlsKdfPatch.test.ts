/**
 * Tests of the ts-mls patch (patches/ts-mls@1.6.4.patch): the direct KDFLabel writer
 * in ExpandWithLabel and leaf-only ratchets in the secret tree. References are built
 * from ts-mls's generic TLS encoders and RFC 9420 §8 / §9 directly.
 */
import fc from "fast-check";
import type { CiphersuiteImpl, Kdf } from "ts-mls";
import { uint16Encoder } from "ts-mls/codec/number.js";
import { composeBufferEncoders, encode } from "ts-mls/codec/tlsEncoder.js";
import { varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { expandWithLabel } from "ts-mls/crypto/kdf.js";
import { createSecretTree, decodeSecretTree, secretTreeEncoder } from "ts-mls/secretTree.js";
import { isLeaf, left, nodeWidth, right, root, toNodeIndex } from "ts-mls/treemath.js";
import { describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { fcSeed } from "./providers.js";

const kdfLabel = encode(
  composeBufferEncoders([uint16Encoder, varLenDataEncoder, varLenDataEncoder]),
);

function referenceExpandWithLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
  kdf: Kdf,
): Promise<Uint8Array> {
  const info = kdfLabel([length, new TextEncoder().encode(`MLS 1.0 ${label}`), context]);
  return kdf.expand(secret, info, length);
}

describe("ts-mls patch: ExpandWithLabel", () => {
  const cs: CiphersuiteImpl = getKalandraCiphersuiteImpl();

  it("writes the same KDFLabel as the generic encoder (1- and 2-byte lengths, long contexts)", async () => {
    const context = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.integer({ min: 16380, max: 16400 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ maxLength: 100 }),
        context,
        fc.integer({ min: 1, max: 255 }),
        async (secret, label, ctx, len) => {
          expect(await expandWithLabel(secret, label, ctx, len, cs.kdf)).toEqual(
            await referenceExpandWithLabel(secret, label, ctx, len, cs.kdf),
          );
        },
      ),
      { numRuns: 300, seed: fcSeed("expandWithLabel patch") },
    );
  });

  it("stays correct when the label memo fills up and is cleared", async () => {
    const secret = new Uint8Array(32).fill(1);
    for (let i = 0; i < 600; i++) {
      const label = `exporter label ${i % 300}`;
      expect(await expandWithLabel(secret, label, new Uint8Array(0), 32, cs.kdf)).toEqual(
        await referenceExpandWithLabel(secret, label, new Uint8Array(0), 32, cs.kdf),
      );
    }
  });
});

describe("ts-mls patch: leaf-only ratchets in the secret tree", () => {
  const cs: CiphersuiteImpl = getKalandraCiphersuiteImpl();

  /** RFC 9420 §9: tree secrets top-down, then each leaf's two ratchet roots. */
  async function referenceLeafRatchets(leafWidth: number, encryptionSecret: Uint8Array) {
    const secrets = new Map<number, Uint8Array>();
    const enc = new TextEncoder();
    async function walk(node: number, secret: Uint8Array): Promise<void> {
      secrets.set(node, secret);
      if (isLeaf(toNodeIndex(node))) return;
      const ni = toNodeIndex(node);
      await walk(
        left(ni),
        await referenceExpandWithLabel(secret, "tree", enc.encode("left"), 32, cs.kdf),
      );
      await walk(
        right(ni),
        await referenceExpandWithLabel(secret, "tree", enc.encode("right"), 32, cs.kdf),
      );
    }
    await walk(root(leafWidth), encryptionSecret);
    const out = new Map<number, { handshake: Uint8Array; application: Uint8Array }>();
    for (const [node, s] of secrets) {
      if (!isLeaf(toNodeIndex(node))) continue;
      out.set(node, {
        handshake: await referenceExpandWithLabel(s, "handshake", new Uint8Array(0), 32, cs.kdf),
        application: await referenceExpandWithLabel(
          s,
          "application",
          new Uint8Array(0),
          32,
          cs.kdf,
        ),
      });
    }
    return out;
  }

  // ts-mls ratchet trees are always full (a power of two leaves wide).
  it.each([1, 2, 4, 8, 32])(
    "%i leaves: leaf ratchet roots follow RFC 9420 §9, parents are empty",
    async (n) => {
      const encryptionSecret = new Uint8Array(32).fill(n);
      const tree = await createSecretTree(n, encryptionSecret, cs.kdf);
      const ref = await referenceLeafRatchets(n, encryptionSecret);
      expect(tree.length).toBe(nodeWidth(n));
      expect(ref.size).toBe((tree.length + 1) / 2);
      for (const [i, node] of tree.entries()) {
        if (isLeaf(toNodeIndex(i))) {
          expect(node.handshake.secret).toEqual(ref.get(i)?.handshake);
          expect(node.application.secret).toEqual(ref.get(i)?.application);
          expect(node.handshake.generation).toBe(0);
        } else {
          expect(node.handshake.secret.length).toBe(0);
          expect(node.application.secret.length).toBe(0);
        }
      }
      // The state codec still round-trips the tree.
      const bytes = encode(secretTreeEncoder)(tree);
      expect(decodeSecretTree(bytes, 0)?.[0]).toEqual(tree);
    },
  );
});
