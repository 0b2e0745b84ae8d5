import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOB_CHUNK_SIZE, chunkCount, chunkLength } from "../src/attachments.js";
import { fcParams } from "./helpers.js";

describe("attachment chunking (attachments.ts)", () => {
  it("cuts a blob into full chunks and one shorter last chunk", () => {
    expect(chunkLength(BLOB_CHUNK_SIZE + 5, 0)).toBe(BLOB_CHUNK_SIZE);
    expect(chunkLength(BLOB_CHUNK_SIZE + 5, BLOB_CHUNK_SIZE)).toBe(5);
    expect(chunkLength(10, 10)).toBe(0);
    expect(chunkCount(BLOB_CHUNK_SIZE)).toBe(1);
    expect(chunkCount(BLOB_CHUNK_SIZE + 1)).toBe(2);
  });

  it("property: the chunks at successive offsets cover the blob exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 * BLOB_CHUNK_SIZE }), (size) => {
        let offset = 0;
        let chunks = 0;
        while (offset < size) {
          const n = chunkLength(size, offset);
          expect(n).toBeGreaterThan(0);
          offset += n;
          chunks++;
        }
        expect(offset).toBe(size);
        expect(chunks).toBe(chunkCount(size));
      }),
      fcParams(100),
    );
  });
});
