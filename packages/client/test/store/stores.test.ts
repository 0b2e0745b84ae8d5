import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { type IdbFactory, IndexedDbStore, IndexedDbStoreError } from "../../src/indexedDbStore.js";
import { MemoryStore } from "../../src/store.js";
import { text, World, waitEpoch, waitFor } from "../support/world.js";
import { storeCompliance } from "./compliance.js";

describe("MemoryStore", () => {
  storeCompliance("MemoryStore", async () => new MemoryStore());
});

describe("IndexedDbStore (fake-indexeddb)", () => {
  let n = 0;
  storeCompliance("IndexedDbStore", async () =>
    IndexedDbStore.open({ name: `db${n++}`, factory: new IDBFactory(), keyRange: IDBKeyRange }),
  );

  it("keeps its data across close and reopen, and destroy removes the database", async () => {
    const factory = new IDBFactory();
    const o = { name: "device", factory, keyRange: IDBKeyRange };
    const a = await IndexedDbStore.open(o);
    await a.put("device", new Uint8Array([1, 2]));
    await a.put("room/1", new Uint8Array([3]));
    a.close();
    const b = await IndexedDbStore.open(o);
    expect(await b.get("device")).toEqual(new Uint8Array([1, 2]));
    expect(await b.keys("room/")).toEqual(["room/1"]);
    b.close();
    await IndexedDbStore.destroy(o);
    const c = await IndexedDbStore.open(o);
    expect(await c.keys("")).toEqual([]);
    c.close();
  });

  it("two databases of one factory are separate devices", async () => {
    const factory = new IDBFactory();
    const a = await IndexedDbStore.open({ name: "a", factory, keyRange: IDBKeyRange });
    const b = await IndexedDbStore.open({ name: "b", factory, keyRange: IDBKeyRange });
    await a.put("k", new Uint8Array([1]));
    expect(await b.get("k")).toBeUndefined();
  });

  it("refuses a value that is not bytes, and a missing IndexedDB, with its typed error", async () => {
    const factory = new IDBFactory();
    const s = await IndexedDbStore.open({ name: "x", factory, keyRange: IDBKeyRange });
    // Another page's code wrote something else under the key.
    const raw = (factory as IdbFactory).open("x", 1);
    await new Promise<void>((resolve) => {
      raw.onsuccess = () => {
        const tx = raw.result.transaction("kv", "readwrite");
        tx.objectStore("kv").put("text", "k");
        tx.oncomplete = () => resolve();
      };
    });
    await expect(s.get("k")).rejects.toThrow(IndexedDbStoreError);
    await expect(IndexedDbStore.open({ name: "y", keyRange: IDBKeyRange })).rejects.toThrow(
      /no IndexedDB/,
    );
  });

  it("a client restarted over the same database resumes its device and rooms", async () => {
    const w = await World.create("idb-restart");
    const factory = new IDBFactory();
    const o = { name: "carol", factory, keyRange: IDBKeyRange };
    const a = await w.client("alice");
    const c = await w.client("carol", await IndexedDbStore.open(o));
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["carol"]);
    await waitEpoch([a, c], room, 1n);
    await c.client.send(room, text("before restart"));
    await waitFor(() => a.texts(room).includes("before restart"), "first message");
    c.client.close();
    c.store.close();

    const again = await w.client("carol", await IndexedDbStore.open(o));
    expect(again.client.senderId).toBe(c.client.senderId);
    expect(again.client.rooms()).toEqual([room]);
    await again.client.send(room, text("after restart"));
    await waitFor(() => a.texts(room).includes("after restart"), "second message");
    a.client.close();
    again.client.close();
  });
});
