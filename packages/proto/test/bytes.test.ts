import { describe, expect, it } from "vitest";
import { concatBytes } from "../src/index.js";

describe("concatBytes", () => {
  it("joins parts in order into a new array", () => {
    const a = Uint8Array.of(1, 2);
    const b = new Uint8Array(0);
    const c = Uint8Array.of(3);
    const out = concatBytes(a, b, c);
    expect(out).toEqual(Uint8Array.of(1, 2, 3));
    expect(out.buffer).not.toBe(a.buffer);
    expect(concatBytes()).toEqual(new Uint8Array(0));
  });
});
