import { seededBytes } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EpochSenderKeys, SenderKeyError } from "../../src/senderkeys/index.js";
import { fcSeed, ROOM } from "./helpers.js";

const seed = fcSeed("senderkeys/scenario");

function epoch(e: bigint, leaves: number[], secretSeed: number): Map<number, EpochSenderKeys> {
  const exporterSecret = seededBytes(secretSeed, 32);
  return new Map(
    leaves.map((ownLeaf) => [
      ownLeaf,
      new EpochSenderKeys({ roomId: ROOM, epoch: e, exporterSecret, ownLeaf, senders: leaves }),
    ]),
  );
}

describe("sender keys across a group", () => {
  it("every member opens every other member's messages, in any delivery order", () => {
    const leaves = [0, 1, 2, 3, 5, 8, 9, 12, 13, 15];
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), (order) => {
        const keys = epoch(3n, leaves, 11);
        const sent: { from: number; generation: number; ciphertext: Uint8Array; body: number }[] =
          [];
        for (let i = 0; i < 40; i++) {
          const from = leaves[i % leaves.length] as number;
          const s = (keys.get(from) as EpochSenderKeys).seal(new Uint8Array([i]));
          sent.push({ from, ...s, body: i });
        }
        // each receiver sees the same messages in its own order
        for (const [leaf, k] of keys) {
          const mine = sent
            .map((m, i) => ({ m, rank: ((order[i] as number) * 31 + leaf) % 97 }))
            .sort((a, b) => a.rank - b.rank)
            .map((x) => x.m);
          for (const m of mine) {
            if (m.from === leaf) continue;
            expect(k.open(m.from, m.generation, m.ciphertext)).toEqual(new Uint8Array([m.body]));
          }
        }
      }),
      { seed, numRuns: 20 },
    );
  });

  it("a member removed at the next epoch opens nothing sent in it", () => {
    const e1 = epoch(1n, [0, 1, 2], 21);
    const e2 = epoch(2n, [0, 1], 22); // leaf 2 removed by the commit to epoch 2
    const late = (e2.get(0) as EpochSenderKeys).seal(new Uint8Array([7]));
    const removed = e1.get(2) as EpochSenderKeys;
    let code = "";
    try {
      removed.open(0, late.generation, late.ciphertext);
    } catch (e) {
      code = e instanceof SenderKeyError ? e.code : "other";
    }
    expect(code).toBe("DECRYPT_FAILED");
    expect((e2.get(1) as EpochSenderKeys).open(0, late.generation, late.ciphertext)).toEqual(
      new Uint8Array([7]),
    );
    for (const k of [...e1.values(), ...e2.values()]) k.destroy();
  });
});
