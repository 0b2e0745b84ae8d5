import { describe, expect, it } from "vitest";
import { AppendBatcher } from "../../src/sequencer/appendBatcher.js";
import type { AppendEntry, Storage } from "../../src/storage/types.js";

/** Storage whose appends resolve only when the test says so, in any order. */
function controlledStorage() {
  const calls: { indexes: bigint[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const storage = {
    append(entries: readonly AppendEntry[]) {
      return new Promise<void>((resolve, reject) =>
        calls.push({ indexes: entries.map((e) => e.logIndex), resolve, reject }),
      );
    },
  } as unknown as Storage;
  return { storage, calls };
}

const entry = (i: number) => ({ logIndex: BigInt(i) }) as AppendEntry;
const tick = () => new Promise((r) => setImmediate(r));

describe("AppendBatcher", () => {
  it("batches a burst into one append and reports only after it is durable", async () => {
    const { storage, calls } = controlledStorage();
    const b = new AppendBatcher(storage);
    const done: number[] = [];
    for (let i = 0; i < 5; i++) b.add(entry(i), () => done.push(i));
    await tick();
    expect(calls.map((c) => c.indexes)).toEqual([[0n, 1n, 2n, 3n, 4n]]);
    expect(done).toEqual([]);
    calls[0]!.resolve();
    await tick();
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });

  it("holds back entries queued after one that is not ready yet, then keeps their order", async () => {
    const { storage, calls } = controlledStorage();
    const b = new AppendBatcher(storage);
    b.add(entry(0), () => {});
    const ready1 = b.addPending(entry(1), () => {});
    b.add(entry(2), () => {});
    await tick();
    expect(calls.map((c) => c.indexes)).toEqual([[0n]]);
    calls[0]!.resolve();
    await tick();
    expect(calls).toHaveLength(1);
    ready1();
    await tick();
    expect(calls.map((c) => c.indexes)).toEqual([[0n], [1n, 2n]]);
  });

  it("reports batches in order when two are in flight and the second finishes first", async () => {
    const { storage, calls } = controlledStorage();
    const b = new AppendBatcher(storage, 2, 2);
    const done: string[] = [];
    for (let i = 0; i < 4; i++) b.add(entry(i), (err) => done.push(`${i}:${err ? "err" : "ok"}`));
    await tick();
    expect(calls.map((c) => c.indexes)).toEqual([
      [0n, 1n],
      [2n, 3n],
    ]);
    calls[1]!.resolve();
    await tick();
    expect(done).toEqual([]);
    calls[0]!.reject(new Error("disk full"));
    await tick();
    expect(done).toEqual(["0:err", "1:err", "2:ok", "3:ok"]);
  });
});
