import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOB_CHUNK_SIZE, blobIdOf, chunkCount, chunkLength } from "../src/attachments.js";
import { toHex } from "../src/bytes.js";
import { fcParams } from "./helpers.js";

describe("attachment chunking (attachments.ts)", () => {
  it("cuts a blob into full chunks and one shorter last chunk", () => {
    expect(chunkLength(BLOB_CHUNK_SIZE + 5, 0)).toBe(BLOB_CHUNK_SIZE);
    expect(chunkLength(BLOB_CHUNK_SIZE + 5, BLOB_CHUNK_SIZE)).toBe(5);
    expect(chunkLength(10, 10)).toBe(0);
    expect(chunkCount(BLOB_CHUNK_SIZE)).toBe(1);
    expect(chunkCount(BLOB_CHUNK_SIZE + 1)).toBe(2);
  });

  it("names a blob by BLAKE3-256 (the official test vector of the empty input)", () => {
    expect(toHex(blobIdOf(new Uint8Array(0)))).toBe(
      "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    );
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
