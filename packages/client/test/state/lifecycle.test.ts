import { describe, expect, it } from "vitest";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

describe("client lifecycle against the in-memory relay", () => {
  it("three members: create, add, exchange messages, agree on the tree hash", async () => {
    const w = await World.create("three");
    const [a, b, c] = await Promise.all(["alice", "bob", "carol"].map((u) => w.client(u)));
    if (!a || !b || !c) throw new Error("clients");
    const room = await a.client.createRoom();
    expect(a.client.room(room)?.phase).toEqual({ kind: "synchronized", epoch: 0n });
    await a.client.addMembers(room, ["bob", "carol"]);
    await waitEpoch([a, b, c], room, 1n);
    expect(b.client.room(room)?.treeHash).toEqual(a.client.room(room)?.treeHash);
    expect(c.client.room(room)?.members).toEqual(["alice", "bob", "carol"]);
    expect(w.relay.treeHash(room)).toEqual(a.client.room(room)?.treeHash);

    await a.client.send(room, text("hi from alice"));
    await b.client.send(room, text("hi from bob"));
    await c.client.send(room, text("hi from carol"));
    const all = ["hi from alice", "hi from bob", "hi from carol"];
    await waitFor(
      () => [a, b, c].every((x) => x.texts(room).length === 3),
      "3 messages everywhere",
    );
    for (const x of [a, b, c]) expect(x.texts(room)).toEqual(all);
  });
});
