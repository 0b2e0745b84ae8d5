/**
 * The `ClientStore` contract (src/store.ts), run against every implementation: bytes in,
 * the same bytes out, owned by the caller; keys by prefix in code-unit order; delete.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import type { ClientStore } from "../../src/store.js";

export function storeCompliance(name: string, open: () => Promise<ClientStore>): void {
  it(`${name}: get returns what put stored; a missing key is undefined`, async () => {
    const s = await open();
    expect(await s.get("a")).toBeUndefined();
    await s.put("a", new Uint8Array([1, 2, 3]));
    expect(await s.get("a")).toEqual(new Uint8Array([1, 2, 3]));
    await s.put("a", new Uint8Array([9]));
    expect(await s.get("a")).toEqual(new Uint8Array([9]));
    await s.put("empty", new Uint8Array(0));
    expect(await s.get("empty")).toEqual(new Uint8Array(0));
  });

  it(`${name}: the store owns a copy (changing the caller's buffer changes nothing)`, async () => {
    const s = await open();
    const v = new Uint8Array([1, 2, 3]);
    await s.put("k", v);
    v.fill(0);
    const got = (await s.get("k")) as Uint8Array;
    expect(got).toEqual(new Uint8Array([1, 2, 3]));
    got.fill(7);
    expect(await s.get("k")).toEqual(new Uint8Array([1, 2, 3]));
  });

  it(`${name}: a view keeps only its own bytes, not its buffer's neighbours`, async () => {
    const s = await open();
    const buffer = new Uint8Array([0xaa, 0xaa, 1, 2, 0xbb, 0xbb]);
    await s.put("view", buffer.subarray(2, 4));
    const got = (await s.get("view")) as Uint8Array;
    expect(got).toEqual(new Uint8Array([1, 2]));
    expect(got.buffer.byteLength).toBe(2);
  });

  it(`${name}: delete removes the key; deleting a missing key is fine`, async () => {
    const s = await open();
    await s.put("gone", new Uint8Array([5]));
    await s.delete("gone");
    await s.delete("never");
    expect(await s.get("gone")).toBeUndefined();
    expect(await s.keys("gone")).toEqual([]);
  });

  it(`${name}: keys(prefix) lists exactly the keys with that prefix, sorted`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: "binary", maxLength: 6 }), { maxLength: 12 }),
        fc.string({ unit: "binary", maxLength: 2 }),
        async (keys, prefix) => {
          const s = await open();
          for (const k of keys) await s.put(k, new Uint8Array([k.length]));
          const expected = keys.filter((k) => k.startsWith(prefix)).sort();
          expect(await s.keys(prefix)).toEqual(expected);
        },
      ),
      { numRuns: 40, seed: 14 },
    );
  });
}
