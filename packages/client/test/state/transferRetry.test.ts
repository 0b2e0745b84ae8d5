/**
 * A federated room's authority moving (DESIGN §11): for a while the hub refuses the room's
 * writes with TRANSFERRING and a retry hint, or NOT_AUTHORITY / PEER_UNREACHABLE. The client
 * core retries the same request (same request_id) after the hint; the application sees its
 * sends succeed, every message once and in one order, and no error event.
 */
import { Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

describe("client during an authority transfer", () => {
  it("retries refused writes after the hint: nothing lost, nothing doubled, no error event", async () => {
    const w = await World.create("transfer-retry");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);

    // The room "moves": its writes are refused for the next 12 attempts, by all three codes.
    const codes = ["TRANSFERRING", "NOT_AUTHORITY", "PEER_UNREACHABLE"] as const;
    let refusals = 0;
    const refusedIds = new Set<string>();
    w.relay.refuseRoomRequest = (f) => {
      if (f.header.opcode !== Opcode.APP_MESSAGE || refusals >= 12) return undefined;
      refusedIds.add(`${f.header.senderId}:${f.header.requestId}`);
      const name = codes[refusals++ % codes.length] ?? "TRANSFERRING";
      return name === "TRANSFERRING" ? { name, retryAfterMs: 30n } : { name };
    };
    const sent: string[] = [];
    const sends: Promise<bigint>[] = [];
    for (let i = 0; i < 6; i++) {
      for (const [who, x] of [
        ["a", a],
        ["b", b],
      ] as const) {
        sent.push(`${who}${i}`);
        sends.push(x.client.send(room, text(`${who}${i}`)));
      }
    }
    const indices = await Promise.all(sends);
    expect(refusals).toBe(12);
    expect(refusedIds.size).toBeGreaterThan(1);
    expect(new Set(indices).size).toBe(12); // each message sequenced once
    await waitFor(
      () => [a, b].every((x) => x.texts(room).length === 12),
      "12 messages on both clients",
    );
    expect(a.texts(room)).toEqual(b.texts(room));
    expect([...a.texts(room)].sort()).toEqual([...sent].sort());
    for (const x of [a, b]) expect(x.events.filter((e) => e.type === "error")).toEqual([]);
  });

  it("a send refused STALE_EPOCH for a commit the hub does not serve yet waits for it, then succeeds", async () => {
    const w = await World.create("stale-unserved");
    const [a, b] = await Promise.all(["alice", "bob"].map((u) => w.client(u)));
    if (!a || !b) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    // bob's commit moves the room to epoch 2; the hub holds it (not served, not fanned out).
    w.relay.holdFrom = w.relay.rooms.get(room)?.log.length;
    await b.client.update(room);
    expect(b.client.room(room)?.epoch).toBe(2n);
    setTimeout(() => w.relay.release(), 400);
    // alice sends at epoch 1: STALE_EPOCH (expected 2) and a sync without the commit.
    const index = await a.client.send(room, text("after the held commit"));
    expect(w.relay.stats.stale).toBeGreaterThan(0);
    expect(a.client.room(room)?.epoch).toBe(2n);
    await waitFor(() => b.texts(room).includes("after the held commit"), "bob reads it");
    expect(index).toBeGreaterThan(0n);
    for (const x of [a, b]) expect(x.events.filter((e) => e.type === "error")).toEqual([]);
  });
});
