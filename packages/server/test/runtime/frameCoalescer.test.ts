import { describe, expect, it } from "vitest";
import { FrameCoalescer } from "../../src/runtime/node/frameCoalescer.js";

const turn = () => new Promise<void>((r) => queueMicrotask(r));

describe("FrameCoalescer", () => {
  it("writes the frames of one microtask turn as one chunk, in order", async () => {
    const writes: Uint8Array[] = [];
    const out = new FrameCoalescer((c) => writes.push(c));
    out.push(Uint8Array.of(1, 2));
    out.push(Uint8Array.of(3));
    out.push(Uint8Array.of(4, 5, 6));
    expect(writes).toHaveLength(0);
    expect(out.queued).toBe(3);
    await turn();
    expect(writes).toEqual([Uint8Array.of(1, 2, 3, 4, 5, 6)]);
    expect(out.queued).toBe(0);
  });

  it("hands a lone frame on as it is, without a copy", async () => {
    const writes: Uint8Array[] = [];
    const out = new FrameCoalescer((c) => writes.push(c));
    const frame = Uint8Array.of(9, 9);
    out.push(frame);
    await turn();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBe(frame);
  });

  it("flush writes at once (before a close) and the turn's flush then writes nothing more", async () => {
    const writes: Uint8Array[] = [];
    const out = new FrameCoalescer((c) => writes.push(c));
    out.push(Uint8Array.of(1));
    out.push(Uint8Array.of(2));
    out.flush();
    expect(writes).toEqual([Uint8Array.of(1, 2)]);
    await turn();
    expect(writes).toHaveLength(1);
    out.push(Uint8Array.of(3));
    await turn();
    expect(writes).toEqual([Uint8Array.of(1, 2), Uint8Array.of(3)]);
  });
});
