/**
 * Tests of the ts-mls patch (patches/ts-mls@1.6.4.patch): the direct KDFLabel writer
 * in ExpandWithLabel and leaf-only ratchets in the secret tree. References are built
 * from ts-mls's generic TLS encoders and RFC 9420 §8 / §9 directly.
 */
import fc from "fast-check";
import { type CiphersuiteImpl, defaultKeyRetentionConfig, type Kdf } from "ts-mls";
import { uint16Encoder } from "ts-mls/codec/number.js";
import { composeBufferEncoders, encode } from "ts-mls/codec/tlsEncoder.js";
import { varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { expandWithLabel } from "ts-mls/crypto/kdf.js";
import {
  consumeRatchet,
  createSecretTree,
  decodeSecretTree,
  ratchetToGeneration,
  secretTreeEncoder,
} from "ts-mls/secretTree.js";
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

describe("ts-mls patch: lazily derived secret tree", () => {
  const cs: CiphersuiteImpl = getKalandraCiphersuiteImpl();
  const enc = new TextEncoder();
  const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

  /** RFC 9420 §9: every leaf's handshake and application ratchet roots, derived eagerly. */
  async function referenceLeafRatchets(leafWidth: number, encryptionSecret: Uint8Array) {
    const out = new Map<number, { handshake: Uint8Array; application: Uint8Array }>();
    async function walk(node: number, secret: Uint8Array): Promise<void> {
      const ni = toNodeIndex(node);
      if (isLeaf(ni)) {
        out.set(node, {
          handshake: await referenceExpandWithLabel(
            secret,
            "handshake",
            new Uint8Array(0),
            32,
            cs.kdf,
          ),
          application: await referenceExpandWithLabel(
            secret,
            "application",
            new Uint8Array(0),
            32,
            cs.kdf,
          ),
        });
        return;
      }
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
    return out;
  }

  /** RFC 9420 §9.1: the key of generation `gen` of a ratchet starting at `rootSecret`. */
  async function referenceKey(rootSecret: Uint8Array, gen: number): Promise<Uint8Array> {
    let secret = rootSecret;
    for (let j = 0; j < gen; j++)
      secret = await referenceExpandWithLabel(secret, "secret", u32(j), 32, cs.kdf);
    return referenceExpandWithLabel(secret, "key", u32(gen), cs.hpke.keyLength, cs.kdf);
  }

  // ts-mls ratchet trees are always full (a power of two leaves wide).
  it.each([1, 2, 4, 8, 32])("%i leaves: keys follow RFC 9420 §9 in any order of use", async (n) => {
    const encryptionSecret = new Uint8Array(32).fill(n);
    const ref = await referenceLeafRatchets(n, encryptionSecret);
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([...ref.keys()], { minLength: ref.size, maxLength: ref.size }),
        fc.nat({ max: n }),
        async (order, roundTripAfter) => {
          const given = encryptionSecret.slice();
          let tree = await createSecretTree(n, given, cs.kdf);
          given.fill(0); // ts-mls zeroes the encryption secret right after making the tree
          expect(tree.length).toBe(nodeWidth(n));
          for (const [step, node] of order.entries()) {
            if (step === roundTripAfter) {
              // A state encoded half-way (some leaves derived, some pending) decodes the same.
              const decoded = decodeSecretTree(encode(secretTreeEncoder)(tree), 0)?.[0];
              expect(decoded).toEqual(tree);
              tree = decoded!;
            }
            const app = await consumeRatchet(tree, node, "application", cs);
            expect(app.key).toEqual(await referenceKey(ref.get(node)!.application, 0));
            const hs = await consumeRatchet(app.newTree, node, "commit", cs);
            expect(hs.key).toEqual(await referenceKey(ref.get(node)!.handshake, 0));
            tree = hs.newTree;
          }
          // Once every leaf is derived no tree secret is left above them (§9 deletion).
          for (const [i, entry] of tree.entries()) {
            if (!isLeaf(toNodeIndex(i))) {
              expect(entry.handshake.secret.length + entry.application.secret.length).toBe(0);
            }
          }
        },
      ),
      { numRuns: n === 32 ? 5 : 20, seed: fcSeed(`lazy secret tree ${n}`) },
    );
  });

  it("a receiver ratchets a never-used leaf forward to the sender's generation", async () => {
    const encryptionSecret = new Uint8Array(32).fill(9);
    const ref = await referenceLeafRatchets(8, encryptionSecret);
    const tree = await createSecretTree(8, encryptionSecret, cs.kdf);
    const reuseGuard = Uint8Array.of(0, 0, 0, 0) as Uint8Array & { length: 4 };
    const r = await ratchetToGeneration(
      tree,
      { leafIndex: 5, generation: 3, reuseGuard },
      "application",
      defaultKeyRetentionConfig,
      cs,
    );
    expect(r.key).toEqual(await referenceKey(ref.get(10)!.application, 3));
    await expect(
      ratchetToGeneration(
        tree,
        { leafIndex: 99, generation: 0, reuseGuard },
        "application",
        defaultKeyRetentionConfig,
        cs,
      ),
    ).rejects.toThrow(/Bad node index/);
  });
});
