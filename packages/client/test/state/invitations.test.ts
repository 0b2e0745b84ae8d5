/**
 * The Welcome inbox and last-resort key packages on the client's side (issue 12), against
 * the in-memory relay, which keeps Welcomes until acknowledged like the hub does.
 */
import { describe, expect, it } from "vitest";
import { World, waitEpoch, waitFor } from "../support/world.js";

describe("Welcome inbox", () => {
  it("an invitee offline when added joins on reconnect, acknowledges, and lists nothing then", async () => {
    const w = await World.create("inbox-offline");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    b.client.disconnect();
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    expect(b.client.room(room)).toBeUndefined();
    await b.client.reconnect(w.relay.connect());
    await waitEpoch([a, b], room, 1n);
    await waitFor(() => w.relay.stats.welcomeAcks === 1, "the Welcome acknowledged");
    expect(await b.client.invitations()).toEqual([]);
    // Reconnecting again delivers nothing more: the acknowledged Welcome is gone.
    await b.client.reconnect(w.relay.connect());
    expect(b.events.filter((e) => e.type === "joined")).toHaveLength(1);
  });

  it("lists a Welcome until it is acknowledged", async () => {
    const w = await World.create("inbox-list");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    w.relay.holdWelcomes = true;
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    const listed = await b.client.invitations();
    expect(listed.map((i) => [i.roomId, i.epoch])).toEqual([[room, 1n]]);
    expect(listed[0]?.logIndex).toBe(1n);
    expect(await a.client.invitations()).toEqual([]);
  });

  it("a repeated Welcome for a room it already joined changes nothing and is acknowledged again", async () => {
    const w = await World.create("inbox-repeat");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    await waitFor(() => w.relay.stats.welcomeAcks === 1, "acknowledged");
    const before = b.client.room(room);
    b.conn.deliver(w.relay.welcomesSent[0]!);
    await waitFor(() => w.relay.stats.welcomeAcks === 2, "acknowledged again");
    expect(b.client.room(room)).toEqual(before);
    expect(b.events.filter((e) => e.type === "joined")).toHaveLength(1);
    expect(b.events.filter((e) => e.type === "error")).toEqual([]);
  });
});

describe("last-resort key package", () => {
  it("after its one-shot packages were drained the user is still added, and the package is replaced", async () => {
    const w = await World.create("last-resort");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    b.client.disconnect();
    expect(w.relay.drain("bob")).toBe(3); // keyPackageTarget 3: every one-shot package
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    expect(w.relay.stats.lastResortUploads).toBe(2); // alice's and bob's, on first connect
    await b.client.reconnect(w.relay.connect());
    await waitEpoch([a, b], room, 1n);
    // The used last-resort package is replaced by a fresh one (its own private keys are
    // kept: a claimer may still hold it), and the user can be added again from the new one.
    await waitFor(() => w.relay.stats.lastResortUploads === 3, "replaced");
    const room2 = await a.client.createRoom();
    w.relay.drain("bob");
    await a.client.addMembers(room2, ["bob"]);
    await waitEpoch([a, b], room2, 1n);
  });
});
