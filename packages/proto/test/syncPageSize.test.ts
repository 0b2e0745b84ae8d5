import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PAYLOAD } from "../src/constants.js";
import { Opcode } from "../src/opcodes.js";
import { encodePayload } from "../src/payloads/codec.js";
import { maxSequencedPayload, SYNC_PAGE_OVERHEAD, syncEntrySize } from "../src/syncPageSize.js";
import { fcParams } from "./helpers.js";

const U64_MAX = 2n ** 64n - 1n;
const page = (sizes: (number | null)[], next = U64_MAX, head = U64_MAX) =>
  encodePayload(Opcode.SYNC_PAGE, {
    entries: sizes.map((n) => ({
      header: new Uint8Array(128),
      payload: n === null ? null : new Uint8Array(n),
    })),
    next,
    head,
  });
const bound = (sizes: (number | null)[]) =>
  SYNC_PAGE_OVERHEAD + sizes.reduce<number>((s, n) => s + syncEntrySize(n ?? 0), 0);

describe("SYNC_PAGE size bounds (syncPageSize.ts)", () => {
  it("property: an encoded page is never larger than its bound", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 70_000 })), {
          maxLength: 40,
        }),
        fc.bigInt({ min: 0n, max: U64_MAX }),
        (sizes, n) => {
          expect(page(sizes, n, n).length).toBeLessThanOrEqual(bound(sizes));
        },
      ),
      fcParams(100),
    );
  });

  it("at the edges: one entry of the largest sequenced payload fills at most a frame", () => {
    const largest = maxSequencedPayload(DEFAULT_MAX_PAYLOAD);
    const bytes = page([largest]);
    expect(bytes.length).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD);
    // The bound is tight to within a few bytes, not a guess.
    expect(DEFAULT_MAX_PAYLOAD - bytes.length).toBeLessThan(32);
    expect(page([]).length).toBeLessThanOrEqual(SYNC_PAGE_OVERHEAD);
    expect(page(Array(300).fill(0)).length).toBeLessThanOrEqual(bound(Array(300).fill(0)));
  });
});
