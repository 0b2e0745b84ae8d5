/**
 * A client adds only devices of the user it asked for (DESIGN §10): a hub that hands out
 * another user's key package under bob's name gets it ignored, so mallory's device never
 * joins the room as "bob". Before the check, alice added mallory's device with bob's.
 */
import { describe, expect, it } from "vitest";
import type { TestClient } from "../support/world.js";
import { World, waitEpoch } from "../support/world.js";

describe("new leaves are the devices their credentials name", () => {
  it("a ghost key package filed under bob is not added", async () => {
    const w = await World.create("ghost");
    const cs = await Promise.all(["alice", "bob", "mallory"].map((u) => w.client(u)));
    const [a, b, m] = cs as [TestClient, TestClient, TestClient];
    w.relay.misfileKeyPackages("mallory", "bob");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    expect(a.client.room(room)?.members.sort()).toEqual(["alice", "bob"]);
    expect(m.client.room(room)).toBeUndefined();
  });
});
