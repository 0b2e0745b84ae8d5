import { describe, expect, it } from "vitest";
import type { TestClient } from "../support/world.js";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

/** Tree hash per epoch as each client saw it on entering that epoch. */
function epochHashes(c: TestClient, roomId: bigint): Map<bigint, string> {
  const m = new Map<bigint, string>();
  for (const e of c.events)
    if (e.type === "epoch" && e.roomId === roomId)
      m.set(e.epoch, Buffer.from(e.treeHash).toString("hex"));
  return m;
}

function expectAgreement(clients: TestClient[], roomId: bigint): void {
  const seen = new Map<bigint, string>();
  for (const c of clients) {
    for (const [epoch, h] of epochHashes(c, roomId)) {
      const prior = seen.get(epoch);
      if (prior === undefined) seen.set(epoch, h);
      else expect(h, `tree hash of epoch ${epoch} at ${c.userId}`).toBe(prior);
    }
  }
}

describe("multi-client rooms", () => {
  it("five members: remove, update, leave, hub kick; the removed read nothing after", async () => {
    const w = await World.create("five");
    const cs = await Promise.all(["alice", "bob", "carol", "dave", "erin"].map((u) => w.client(u)));
    const [a, b, c, d, e] = cs as [TestClient, TestClient, TestClient, TestClient, TestClient];
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob", "carol", "dave", "erin"]);
    await waitEpoch(cs, room, 1n);
    // Every member's tree names each leaf's user and the device holding it (DESIGN §10).
    const leaves = cs.map((x) => x.client.leaves(room));
    expect(leaves[0]).toEqual(
      cs.map((x, leaf) => ({ leaf, userId: x.userId, senderId: x.client.senderId })),
    );
    for (const l of leaves) expect(l).toEqual(leaves[0]);
    expect(a.client.leaves(room + 1n)).toBeUndefined();
    const sent: { text: string; epoch: bigint }[] = [];
    const say = async (who: TestClient, s: string) => {
      await who.client.send(room, text(s));
      sent.push({ text: s, epoch: who.client.room(room)?.epoch ?? -1n });
    };
    for (const x of cs) await say(x, `1:${x.userId}`);

    await a.client.removeMembers(room, ["carol"]);
    await waitEpoch([a, b, d, e], room, 2n);
    await waitFor(() => c.client.room(room)?.phase.kind === "removed", "carol removed");
    await say(b, "2:bob");

    await d.client.update(room);
    await waitEpoch([a, b, d, e], room, 3n);
    await say(d, "3:dave");

    // erin leaves: her proposal is sequenced, the relay asks another member to commit.
    await e.client.leave(room);
    await waitFor(() => e.client.room(room)?.phase.kind === "removed", "erin removed");
    await waitEpoch([a, b, d], room, 4n);
    await say(a, "4:alice");

    // the hub kicks bob: a Remove proposal by external sender 0, committed on request.
    await w.relay.kick(room, "bob");
    await waitFor(() => b.client.room(room)?.phase.kind === "removed", "bob removed");
    await waitEpoch([a, d], room, 5n);
    await say(d, "5:dave");
    await waitFor(
      () => a.texts(room).length === sent.length && d.texts(room).length === sent.length,
      "last message",
    );

    const membership: Record<string, [bigint, bigint]> = {
      alice: [1n, 99n],
      bob: [1n, 4n],
      carol: [1n, 1n],
      dave: [1n, 99n],
      erin: [1n, 3n],
    };
    for (const x of cs) {
      const [from, to] = membership[x.userId] ?? [0n, 0n];
      const expected = sent.filter((m) => m.epoch >= from && m.epoch <= to).map((m) => m.text);
      expect(x.texts(room), x.userId).toEqual(expected);
    }
    expectAgreement(cs, room);
    // Every frame applied cleanly: no skipped frame, no error anywhere.
    for (const x of cs)
      expect(
        x.events.filter((e) => e.type === "rejected" || e.type === "error"),
        x.userId,
      ).toEqual([]);
    expect(a.client.room(room)?.members).toEqual(["alice", "dave"]);
    expect(w.relay.treeHash(room)).toEqual(a.client.room(room)?.treeHash);
  });

  it("concurrent commits: one wins the epoch, the loser syncs and retries", async () => {
    const w = await World.create("race");
    const cs = await Promise.all(["alice", "bob", "carol"].map((u) => w.client(u)));
    const [a, b, c] = cs as [TestClient, TestClient, TestClient];
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob", "carol"]);
    await waitEpoch(cs, room, 1n);
    await Promise.all([a.client.update(room), b.client.update(room), c.client.update(room)]);
    await waitEpoch(cs, room, 4n);
    expect(w.relay.stats.stale).toBeGreaterThanOrEqual(2);
    expectAgreement(cs, room);
    for (const x of cs)
      expect(
        x.events.filter((e) => e.type === "rejected" || e.type === "error"),
        x.userId,
      ).toEqual([]);
    await c.client.send(room, text("after the race"));
    await waitFor(
      () => a.texts(room).includes("after the race") && b.texts(room).includes("after the race"),
      "message",
    );
  });

  it("external join from the hub's GroupInfo, and a removal pending blocks it", async () => {
    const w = await World.create("external", { autoCommitRequest: false });
    const [a, b, f] = (await Promise.all(
      ["alice", "bob", "frank"].map((u) => w.client(u)),
    )) as TestClient[];
    if (!a || !b || !f) throw new Error("clients");
    const room = await a.client.createRoom();
    await a.client.addMembers(room, ["bob"]);
    await waitEpoch([a, b], room, 1n);
    await f.client.joinExternal(room);
    await waitEpoch([a, b, f], room, 2n);
    expect(a.client.room(room)?.members).toEqual(["alice", "bob", "frank"]);
    await f.client.send(room, text("frank here"));
    await waitFor(
      () => a.texts(room).includes("frank here") && b.texts(room).includes("frank here"),
      "frank's message",
    );
    expectAgreement([a, b, f], room);
  });

  it("twenty members agree and everyone reads every message sent while a member", async () => {
    const w = await World.create("twenty");
    const names = Array.from({ length: 20 }, (_, i) => `user${i.toString().padStart(2, "0")}`);
    const cs = await Promise.all(names.map((u) => w.client(u)));
    const [owner] = cs as [TestClient];
    const room = await owner.client.createRoom();
    await owner.client.addMembers(room, names.slice(1, 10));
    await owner.client.addMembers(room, names.slice(10));
    await waitEpoch(cs, room, 2n);
    for (const x of cs) await x.client.send(room, text(`hello from ${x.userId}`));
    await waitFor(
      () => cs.every((x) => x.texts(room).length === 20),
      "20 messages everywhere",
      60_000,
    );
    const leaving = names.slice(15);
    await owner.client.removeMembers(room, leaving);
    const staying = cs.filter((x) => !leaving.includes(x.userId));
    await waitEpoch(staying, room, 3n);
    await staying[3]?.client.send(room, text("after the removals"));
    await waitFor(() => staying.every((x) => x.texts(room).length === 21), "21 messages", 60_000);
    for (const x of cs.filter((y) => leaving.includes(y.userId))) {
      expect(x.texts(room)).toHaveLength(20);
      expect(x.client.room(room)?.phase.kind).toBe("removed");
    }
    expectAgreement(cs, room);
  }, 120_000);
});
