import { describe, expect, it } from "vitest";
import { bytesEqual, concatBytes, toHex } from "../src/index.js";

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

describe("bytesEqual", () => {
  it("compares length and content", () => {
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 0))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe("toHex", () => {
  it("writes lower-case hex of a view's own bytes", () => {
    const backing = Uint8Array.of(0xff, 0x0a, 0xbc, 0x01);
    expect(toHex(backing)).toBe("ff0abc01");
    expect(toHex(backing.subarray(1, 3))).toBe("0abc");
    expect(toHex(new Uint8Array(0))).toBe("");
  });
});
