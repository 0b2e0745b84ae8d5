/**
 * ModerationAnswers (hub/moderationAnswers.ts) over a real in-memory storage: an accepted
 * answer is stored before it is given out and outlives the object (a restart), repeats in
 * flight share one run, refusals are not kept, and an answer whose write failed is never
 * given out but written again by the repeat, without carrying the request out twice.
 */
import { describe, expect, it } from "vitest";
import { type ModerationAnswer, ModerationAnswers } from "../../src/hub/moderationAnswers.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import { AnswerDisk } from "./answerDisk.js";

const bytes = (s: string) => new TextEncoder().encode(s);

/** A request handler that counts how often it was carried out. */
function handler(answer: ModerationAnswer) {
  const h = {
    runs: 0,
    run: async (): Promise<ModerationAnswer> => {
      h.runs++;
      return answer;
    },
  };
  return h;
}

describe("ModerationAnswers", () => {
  it("stores an accepted answer before giving it out; a new instance (a restart) answers from it", async () => {
    const storage = new AnswerDisk();
    storage.slow = true;
    const ack = handler({ bytes: bytes("ack"), accepted: true });
    const answers = new ModerationAnswers(storage);
    let given: unknown;
    const p = answers.once(5n, 1, ack.run).then((a) => {
      given = a;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(ack.runs).toBe(1);
    expect(given).toBeUndefined(); // carried out, not yet durable: not given out
    storage.slow = false;
    storage.flush();
    await p;
    expect(given).toEqual({ kind: "answer", bytes: bytes("ack") });
    expect(storage.getModerationAnswer(5n, 1)).toEqual(bytes("ack"));

    const restarted = new ModerationAnswers(storage);
    const other = handler({ bytes: bytes("other"), accepted: true });
    expect(await restarted.once(5n, 1, other.run)).toEqual({ kind: "answer", bytes: bytes("ack") });
    expect(other.runs).toBe(0);
    // Keyed by sender and request: another sender's same request id is its own.
    expect(await restarted.once(6n, 1, other.run)).toEqual({
      kind: "answer",
      bytes: bytes("other"),
    });
  });

  it("shares one run among repeats in flight; keeps no refusal", async () => {
    const storage = new MemoryStorage();
    const answers = new ModerationAnswers(storage);
    const ack = handler({ bytes: bytes("ack"), accepted: true });
    const both = await Promise.all([answers.once(5n, 1, ack.run), answers.once(5n, 1, ack.run)]);
    expect(ack.runs).toBe(1);
    expect(both[1]).toEqual(both[0]);

    const no = handler({ bytes: bytes("refused"), accepted: false });
    expect(await answers.once(5n, 2, no.run)).toEqual({ kind: "answer", bytes: bytes("refused") });
    expect(await answers.once(5n, 2, no.run)).toEqual({ kind: "answer", bytes: bytes("refused") });
    expect(no.runs).toBe(2);
    expect(storage.getModerationAnswer(5n, 2)).toBeUndefined();
  });

  it("gives out no answer it could not store; the repeat stores it without running again", async () => {
    const storage = new AnswerDisk();
    const answers = new ModerationAnswers(storage);
    const ack = handler({ bytes: bytes("ack"), accepted: true });
    storage.full = true;
    expect(await answers.once(5n, 1, ack.run)).toEqual({ kind: "unsaved" });
    expect(await answers.once(5n, 1, ack.run)).toEqual({ kind: "unsaved" });
    expect(ack.runs).toBe(1);
    storage.full = false;
    expect(await answers.once(5n, 1, ack.run)).toEqual({ kind: "answer", bytes: bytes("ack") });
    expect(ack.runs).toBe(1);
    expect(storage.getModerationAnswer(5n, 1)).toEqual(bytes("ack"));
  });

  it("stores at most its capacity, oldest dropped", async () => {
    const storage = new MemoryStorage();
    const answers = new ModerationAnswers(storage, 2);
    for (let i = 1; i <= 3; i++) {
      await answers.once(5n, i, handler({ bytes: bytes(`a${i}`), accepted: true }).run);
    }
    expect([1, 2, 3].map((i) => storage.getModerationAnswer(5n, i) !== undefined)).toEqual([
      false,
      true,
      true,
    ]);
  });
});
