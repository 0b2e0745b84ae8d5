import { seededBytes } from "@kalandra/test-support";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EpochSenderKeys, SenderKeyError } from "../../src/senderkeys/index.js";
import { errorCode, fcSeed, fromUtf8, members, utf8 } from "./helpers.js";

const seed = fcSeed("senderkeys/state");

describe("EpochSenderKeys persisted state", () => {
  it("resumes after a restart: no generation sealed twice, no message opened twice", () => {
    const [a, b] = members(2, { window: { maxSkip: 5 } }) as [EpochSenderKeys, EpochSenderKeys];
    const m = [0, 1, 2, 3].map((i) => a.seal(utf8(`m${i}`)));
    const own = b.seal(utf8("b0"));
    b.open(0, 2, (m[2] as { ciphertext: Uint8Array }).ciphertext);
    const saved = b.exportState();
    b.destroy();
    const restored = EpochSenderKeys.fromState(saved);
    expect([restored.roomId, restored.epoch, restored.ownLeaf]).toEqual([b.roomId, b.epoch, 1]);
    expect(restored.sendGeneration).toBe(1);
    expect(
      errorCode(() => restored.open(0, 2, (m[2] as { ciphertext: Uint8Array }).ciphertext)),
    ).toBe("REPLAY");
    expect(fromUtf8(restored.open(0, 0, (m[0] as { ciphertext: Uint8Array }).ciphertext))).toBe(
      "m0",
    );
    expect(fromUtf8(restored.open(0, 3, (m[3] as { ciphertext: Uint8Array }).ciphertext))).toBe(
      "m3",
    );
    const next = restored.seal(utf8("b1"));
    expect(next.generation).toBe(1);
    expect(fromUtf8(a.open(1, next.generation, next.ciphertext))).toBe("b1");
    expect(fromUtf8(a.open(1, own.generation, own.ciphertext))).toBe("b0");
    expect(errorCode(() => restored.open(7, 0, next.ciphertext))).toBe("UNKNOWN_SENDER");
    // the window configuration survives too
    expect(errorCode(() => restored.open(0, 4 + 6, next.ciphertext))).toBe("TOO_FAR_AHEAD");
  });

  it("round trips lazily derived keys with their exporter copy", () => {
    const exporterSecret = seededBytes(4, 32);
    const a = new EpochSenderKeys({ roomId: 5n, epoch: 9n, exporterSecret, ownLeaf: 2 });
    const b = new EpochSenderKeys({ roomId: 5n, epoch: 9n, exporterSecret, ownLeaf: 3 });
    const msg = a.seal(utf8("lazy"));
    const r = EpochSenderKeys.fromState(b.exportState());
    expect(fromUtf8(r.open(2, msg.generation, msg.ciphertext))).toBe("lazy");
    expect(r.secretsForTest().exporter).toEqual(exporterSecret);
    r.destroy();
    expect(errorCode(() => r.exportState())).toBe("WRONG_EPOCH");
  });

  it("rejects malformed state with BAD_STATE only", () => {
    const [a] = members(3) as [EpochSenderKeys];
    a.seal(utf8("x"));
    const good = a.exportState();
    expect(errorCode(() => EpochSenderKeys.fromState(good))).toBe("OK");
    expect(errorCode(() => EpochSenderKeys.fromState(good.subarray(0, good.length - 1)))).toBe(
      "BAD_STATE",
    );
    expect(errorCode(() => EpochSenderKeys.fromState(new Uint8Array([...good, 0])))).toBe(
      "BAD_STATE",
    );
    for (const [at, value] of [
      [0, 0],
      [4, 9],
      [5, 0x80],
      [5, 0],
      [7, 1],
    ] as const) {
      const bad = good.slice();
      bad[at] = value;
      expect([at, errorCode(() => EpochSenderKeys.fromState(bad))]).toEqual([at, "BAD_STATE"]);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 400 }), (noise, cut) => {
        for (const input of [noise, good.slice(0, cut)]) {
          try {
            EpochSenderKeys.fromState(input);
          } catch (e) {
            expect(e).toBeInstanceOf(SenderKeyError);
          }
        }
      }),
      { seed, numRuns: 500 },
    );
  });
});
