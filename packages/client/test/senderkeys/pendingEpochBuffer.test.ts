import { describe, expect, it } from "vitest";
import { PendingEpochBuffer } from "../../src/senderkeys/index.js";

describe("PendingEpochBuffer", () => {
  it("holds next-epoch items in order and hands them over once", () => {
    const buf = new PendingEpochBuffer<Uint8Array>((b) => b.length);
    expect(buf.push(4n, 5n, new Uint8Array(3))).toEqual({ kind: "buffered" });
    expect(buf.push(4n, 5n, new Uint8Array(4))).toEqual({ kind: "buffered" });
    expect(buf.length).toBe(2);
    expect(buf.byteLength).toBe(7);
    expect(buf.take(5n).map((b) => b.length)).toEqual([3, 4]);
    expect(buf.take(5n)).toEqual([]);
    expect(buf.length).toBe(0);
    expect(buf.byteLength).toBe(0);
  });

  it("refuses past, current and too-far epochs and enforces both budgets", () => {
    const buf = new PendingEpochBuffer<string>((s) => s.length, {
      maxMessages: 2,
      maxBytes: 5,
      maxEpochsAhead: 2n,
    });
    expect(buf.push(4n, 4n, "a")).toEqual({ kind: "dropped", reason: "notFuture" });
    expect(buf.push(4n, 7n, "a")).toEqual({ kind: "dropped", reason: "tooFarAhead" });
    expect(buf.push(4n, 6n, "abcdef")).toEqual({ kind: "dropped", reason: "full" });
    expect(buf.push(4n, 6n, "abc").kind).toBe("buffered");
    expect(buf.push(4n, 5n, "de").kind).toBe("buffered");
    expect(buf.push(4n, 5n, "f")).toEqual({ kind: "dropped", reason: "full" });
    // entering epoch 6 discards what was held for 5
    expect(buf.take(6n)).toEqual(["abc"]);
    expect(buf.length).toBe(0);
    buf.push(6n, 7n, "x");
    expect(buf.dropBelow(8n)).toBe(1);
    buf.push(6n, 7n, "y");
    buf.clear();
    expect(buf.length).toBe(0);
  });
});
