/**
 * The contract of the stored moderation answers (types.ts `ModerationAnswerStorage`), run
 * against every `Storage` (CONVENTIONS §6): the first answer stays, at most `maxAnswers`
 * rows with the oldest dropped first, each answer bounded in size, nothing written by a
 * refused call; and, as a property, the same answers as a plain model after any sequence.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MODERATION_ANSWER_MAX_BYTES } from "../../src/storage/moderationAnswerBounds.js";
import type { Storage } from "../../src/storage/types.js";
import { eachStorage, type Harness } from "./compliance.js";
import { utf8 } from "./helpers.js";

const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

export function moderationAnswerCompliance(name: string, make: () => Promise<Harness>): void {
  describe(`Moderation answer storage compliance: ${name}`, () => {
    let s: Storage;
    eachStorage(make, (storage) => {
      s = storage;
    });

    it("keeps the first answer per (sender_id, request_id), apart from sequenced responses", async () => {
      expect(s.getModerationAnswer(5n, 1)).toBeUndefined();
      expect(await s.putModerationAnswer(5n, 1, utf8("ack-1"), 10)).toBe(0);
      expect(await s.putModerationAnswer(5n, 1, utf8("second"), 10)).toBe(0);
      expect(text(s.getModerationAnswer(5n, 1))).toBe("ack-1");
      expect(s.getModerationAnswer(5n, 2)).toBeUndefined();
      expect(s.getModerationAnswer(6n, 1)).toBeUndefined();
      // Not a sequenced request's response, and those are not moderation answers.
      expect(s.getResponse(5n, 1)).toBeUndefined();
      await s.putResponse(7n, 1, utf8("response"));
      expect(s.getModerationAnswer(7n, 1)).toBeUndefined();
      // Extreme ids are keys like any other.
      await s.putModerationAnswer(2n ** 64n - 1n, 0xffffffff, utf8("max"), 10);
      expect(text(s.getModerationAnswer(2n ** 64n - 1n, 0xffffffff))).toBe("max");
    });

    it("copies the caller's buffer and hands out its own", async () => {
      const mine = utf8("ack");
      await s.putModerationAnswer(5n, 1, mine, 10);
      mine.fill(0);
      const out = s.getModerationAnswer(5n, 1)!;
      expect(text(out)).toBe("ack");
      out.fill(0);
      expect(text(s.getModerationAnswer(5n, 1))).toBe("ack");
    });

    it("keeps at most maxAnswers, dropping the oldest first; a repeat changes no order", async () => {
      const dropped: number[] = [];
      for (let i = 1; i <= 5; i++)
        dropped.push(await s.putModerationAnswer(5n, i, utf8(`a${i}`), 3));
      expect(dropped).toEqual([0, 0, 0, 1, 1]);
      const held = () => [1, 2, 3, 4, 5].filter((i) => s.getModerationAnswer(5n, i) !== undefined);
      expect(held()).toEqual([3, 4, 5]);
      // A repeat of a kept one is no new row: nothing dropped, 3 still the oldest.
      expect(await s.putModerationAnswer(5n, 4, utf8("again"), 3)).toBe(0);
      expect(held()).toEqual([3, 4, 5]);
      // A dropped key is new again.
      expect(await s.putModerationAnswer(5n, 1, utf8("b1"), 3)).toBe(1);
      expect(held()).toEqual([1, 4, 5]);
      // A smaller bound (another configuration) drops the excess at the next write.
      expect(await s.putModerationAnswer(6n, 1, utf8("c1"), 2)).toBe(2);
      expect(held()).toEqual([1]);
      expect(text(s.getModerationAnswer(6n, 1))).toBe("c1");
    });

    it("refuses oversized answers and bad ids or bounds with INVALID, writing nothing", async () => {
      const big = new Uint8Array(MODERATION_ANSWER_MAX_BYTES + 1);
      const refused: [bigint, number, Uint8Array, number][] = [
        [5n, 1, big, 10],
        [5n, -1, utf8("x"), 10],
        [5n, 2 ** 32, utf8("x"), 10],
        [5n, 1.5, utf8("x"), 10],
        [-1n, 1, utf8("x"), 10],
        [2n ** 64n, 1, utf8("x"), 10],
        [5n, 1, utf8("x"), 0],
      ];
      for (const [sender, request, answer, max] of refused) {
        await expect(s.putModerationAnswer(sender, request, answer, max)).rejects.toMatchObject({
          code: "INVALID",
        });
      }
      expect(s.getModerationAnswer(5n, 1)).toBeUndefined();
      const limit = new Uint8Array(MODERATION_ANSWER_MAX_BYTES).fill(1);
      await s.putModerationAnswer(5n, 1, limit, 10);
      expect(s.getModerationAnswer(5n, 1)).toEqual(limit);
    });

    it("agrees with a plain model after any sequence of writes", async () => {
      const write = fc.record({
        sender: fc.bigInt(1n, 3n),
        request: fc.integer({ min: 0, max: 6 }),
        max: fc.integer({ min: 1, max: 5 }),
      });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(write, { maxLength: 30 }), async (writes) => {
          const run = await make();
          const model = new Map<string, string>(); // oldest first
          try {
            for (const w of writes) {
              const k = `${w.sender}:${w.request}`;
              const answer = `a${n++}`;
              let drop = 0;
              if (!model.has(k)) {
                model.set(k, answer);
                while (model.size > w.max) {
                  model.delete(model.keys().next().value!);
                  drop++;
                }
              }
              const got = await run.storage.putModerationAnswer(
                w.sender,
                w.request,
                utf8(answer),
                w.max,
              );
              expect(got).toBe(drop);
            }
            for (let sender = 1n; sender <= 3n; sender++) {
              for (let request = 0; request <= 6; request++) {
                const stored = run.storage.getModerationAnswer(sender, request);
                expect(text(stored)).toBe(model.get(`${sender}:${request}`));
              }
            }
          } finally {
            await run.dispose();
          }
        }),
        { numRuns: 12, seed: 20261207 },
      );
    });

    it("refuses every call once closed", async () => {
      await s.close();
      expect(() => s.getModerationAnswer(5n, 1)).toThrow(
        expect.objectContaining({ code: "CLOSED" }),
      );
      await expect(s.putModerationAnswer(5n, 1, utf8("x"), 1)).rejects.toMatchObject({
        code: "CLOSED",
      });
    });
  });
}
