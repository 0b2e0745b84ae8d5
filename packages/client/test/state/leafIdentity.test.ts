/**
 * A client adds only devices of the user it asked for (DESIGN §10): a hub that hands out
 * another user's key package under bob's name gets it ignored, so mallory's device never
 * joins the room as "bob". Before the check, alice added mallory's device with bob's.
 */
import { describe, expect, it } from "vitest";
import { getKalandraCiphersuiteImpl } from "../../src/index.js";
import { generateDevice, generateKeyPackages } from "../../src/state/device.js";
import { claimMatches, credentialUser, leafSenderId } from "../../src/state/leafIdentity.js";
import { ManualTime, seededRng } from "../support/env.js";
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

describe("leaf identity helpers", () => {
  it("name the credential's user and the key's sender_id; a claim must match both", async () => {
    const rng = seededRng("leaf-identity");
    const dev = generateDevice("bob@hub", rng);
    const [kp] = await generateKeyPackages(
      dev,
      1,
      new ManualTime(),
      getKalandraCiphersuiteImpl(rng),
    );
    const leaf = kp!.publicPackage.leafNode;
    expect(credentialUser(leaf)).toBe("bob@hub");
    expect(leafSenderId(leaf)).toBe(dev.senderId);
    expect(claimMatches(kp!.publicPackage, "bob@hub", dev.senderId)).toBe(true);
    expect(claimMatches(kp!.publicPackage, "alice@hub", dev.senderId)).toBe(false);
    expect(claimMatches(kp!.publicPackage, "bob@hub", dev.senderId + 1n)).toBe(false);
    const bad = {
      ...leaf,
      credential: { credentialType: "basic" as const, identity: new Uint8Array([0xff]) },
    };
    expect(credentialUser(bad)).toBeUndefined();
    expect(leafSenderId({ ...leaf, signaturePublicKey: new Uint8Array(3) })).toBeUndefined();
  });
});
