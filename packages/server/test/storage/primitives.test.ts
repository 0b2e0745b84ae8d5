/** The building blocks of the LMDB storage: keys, sealing, the key vault and its allocator. */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { asStorageError, StorageError } from "../../src/storage/errors.js";
import {
  frameKey,
  prefixEnd,
  readFrameKey,
  readRoomKey,
  readUserPrefix,
  requestKey,
  roomKey,
  u64Key,
  userIndexKey,
  userPrefix,
} from "../../src/storage/keys.js";
import {
  KeyVault,
  SLOT_BYTES,
  SlotAllocator,
  VAULT_HEADER_BYTES,
} from "../../src/storage/lmdb/vault.js";
import { openPayload, sealPayload } from "../../src/storage/seal.js";
import { seededRng, tempDir, utf8 } from "./helpers.js";

const d = tempDir("primitives");
afterAll(() => d.cleanup());

const cmp = (a: Uint8Array, b: Uint8Array): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b));

describe("binary keys", () => {
  it("sort frame keys in (room, index) order and round-trip them", () => {
    const u128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(u128, u64, u128, u64, (r1, i1, r2, i2) => {
        const a = frameKey(r1, i1);
        const b = frameKey(r2, i2);
        expect(readFrameKey(a)).toEqual({ roomId: r1, logIndex: i1 });
        const order = r1 === r2 ? (i1 < i2 ? -1 : i1 > i2 ? 1 : 0) : r1 < r2 ? -1 : 1;
        expect(Math.sign(cmp(a, b))).toBe(order);
        // Every key of room r1 sorts below the room's prefix end.
        expect(cmp(a, prefixEnd(roomKey(r1), 8))).toBe(-1);
        expect(readRoomKey(roomKey(r1))).toBe(r1);
      }),
    );
  });

  it("keeps user prefixes apart and refuses out-of-range values", () => {
    expect(readUserPrefix(userPrefix("ålice")).userId).toBe("ålice");
    const ab = userIndexKey("ab", 1n, 2n);
    // "ab" is not inside user "a"'s key range (the length byte keeps them apart).
    expect(cmp(ab, prefixEnd(userPrefix("a"), 24))).toBe(1);
    expect(cmp(userIndexKey("a", (1n << 128n) - 1n, 0n), prefixEnd(userPrefix("a"), 24))).toBe(-1);
    expect(readFrameKey(ab.subarray(userPrefix("ab").length))).toEqual({
      roomId: 1n,
      logIndex: 2n,
    });
    expect(() => readUserPrefix(new Uint8Array([0]))).toThrow(StorageError);
    expect(() => readUserPrefix(new Uint8Array([0, 5, 1]))).toThrow(StorageError);
    expect(() => userPrefix("x".repeat(70_000))).toThrow(
      expect.objectContaining({ code: "INVALID" }),
    );
    expect(() => roomKey(-1n)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => roomKey(1n << 128n)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => frameKey(1n, 1n << 64n)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => u64Key(-1n)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => requestKey(1n, 1.5)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => requestKey(1n, 2 ** 32)).toThrow(expect.objectContaining({ code: "INVALID" }));
    expect(() => readFrameKey(new Uint8Array(3))).toThrow(
      expect.objectContaining({ code: "CORRUPT" }),
    );
  });
});

describe("payload sealing", () => {
  const key = seededRng("seal").bytes(32);
  const ad = frameKey(1n, 2n);

  it("opens what it sealed and nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (pt) => {
        const sealed = sealPayload(key, ad, pt);
        expect(sealed.length).toBe(pt.length + 16);
        expect(openPayload(key, ad, sealed)).toEqual(pt);
      }),
    );
    const sealed = sealPayload(key, ad, utf8("secret"));
    expect(() => openPayload(key, frameKey(1n, 3n), sealed)).toThrow(
      expect.objectContaining({ code: "CORRUPT" }),
    );
    expect(() => openPayload(new Uint8Array(32), ad, sealed)).toThrow(
      expect.objectContaining({ code: "CORRUPT" }),
    );
    expect(() => openPayload(key, ad, sealed.subarray(0, 10))).toThrow(
      expect.objectContaining({ code: "CORRUPT" }),
    );
    expect(() => sealPayload(new Uint8Array(16), ad, sealed)).toThrow(
      expect.objectContaining({ code: "INVALID" }),
    );
  });
});

describe("key vault", () => {
  it("writes, reads, wipes and truncates fixed slots in place", async () => {
    const path = join(d.path, "a.vault");
    const v = KeyVault.open(path);
    const keys = seededRng("vault").bytes(4 * SLOT_BYTES);
    v.writeMany([0, 1, 2, 5], keys);
    await Promise.all([v.sync(), v.sync(), v.sync()]);
    expect(v.read(5)).toEqual(keys.subarray(96, 128));
    expect(v.isEmpty(3)).toBe(true);
    expect(v.fileSlots()).toBe(6);
    v.wipe(1);
    v.syncNow();
    expect(v.isEmpty(1)).toBe(true);
    const raw = readFileSync(path);
    expect(
      raw.subarray(VAULT_HEADER_BYTES + 32, VAULT_HEADER_BYTES + 64).every((b) => b === 0),
    ).toBe(true);
    expect(raw.indexOf(Buffer.from(keys.subarray(32, 64)))).toBe(-1);
    v.truncateTo(2);
    expect(statSync(path).size).toBe(VAULT_HEADER_BYTES + 2 * SLOT_BYTES);
    expect(() => v.read(4)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    expect(() => v.write(0, new Uint8Array(3))).toThrow(
      expect.objectContaining({ code: "INVALID" }),
    );
    expect(() => v.writeMany([0], new Uint8Array(3))).toThrow(
      expect.objectContaining({ code: "INVALID" }),
    );
    v.close();
    v.close();
    expect(() => v.wipe(0)).toThrow(expect.objectContaining({ code: "CLOSED" }));
    const again = KeyVault.open(path, true);
    expect(again.read(0)).toEqual(keys.subarray(0, 32));
    await again.sync();
    again.close();
  });

  it("refuses a file that is not a vault", () => {
    const path = join(d.path, "bad.vault");
    writeFileSync(path, new Uint8Array(10));
    expect(() => KeyVault.open(path)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    const header = new Uint8Array(64);
    header.set(utf8("KLDRVLT1"));
    header[11] = 16;
    writeFileSync(path, header);
    expect(() => KeyVault.open(path)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    expect(() => KeyVault.open(join(d.path, "no", "such", "dir.vault"))).toThrow(
      expect.objectContaining({ code: "IO" }),
    );
  });

  it("allocates free slots first, lowest first, then from the high-water mark", () => {
    const a = new SlotAllocator([7, 2, 4], 10);
    expect(a.allocate(2)).toEqual({ slots: [2, 4], reused: [2, 4] });
    expect(a.allocate(3)).toEqual({ slots: [7, 10, 11], reused: [7] });
    expect(a.highWaterMark).toBe(12);
    a.release(3);
    expect(a.freeCount).toBe(1);
    expect(a.allocate(1).slots).toEqual([3]);
  });
});

describe("storage errors", () => {
  it("wraps foreign failures as IO and keeps its own", () => {
    const own = new StorageError("GAP", "x");
    expect(asStorageError(own, "w")).toBe(own);
    expect(asStorageError(new Error("disk"), "write")).toMatchObject({
      code: "IO",
      message: "write: disk",
    });
    expect(asStorageError("odd", "write")).toMatchObject({ code: "IO", name: "StorageError" });
  });
});
