/**
 * Issue 18, real processes: kicks after a transfer (docs/federation.md "Kicks across
 * hubs"). Two kalandrad hubs (worker shards) with `federation.enlist_hubs` on; alice's room
 * on A with dave@a.example, bob@b.example and carol@b.example. A enlists B as the room's
 * MLS external sender (a member's client commits it when asked), the operator moves the
 * room to B, and B's operator kicks alice, homed on A (`POST /admin/kick` on B). Every
 * remaining member, on A and on B, processes the removal's commit; alice's client sees
 * itself removed, and nothing sequenced after it reaches her device.
 */
import { FrameHeader } from "@kalandra/proto";
import { expect, it } from "vitest";
import { federationForFile, until } from "./federation.js";

const federation = federationForFile("e2e-federation-kick");

it("after a transfer A → B, B's operator kicks a member homed on A; members on both hubs follow", async () => {
  const f = await federation.create(["a.example", "b.example"], {
    // Until the core enlists by default (FederationSetup.enlistHubs), say it: the test is of it.
    env: { KALANDRA_FEDERATION__ENLIST_HUBS: "true" },
  });
  await f.startAll();
  const alice = await f.member("alice@a.example");
  const dave = await f.member("dave@a.example");
  const bob = await f.member("bob@b.example");
  const carol = await f.member("carol@b.example");
  const room = await f.room(alice, [dave, bob, carol], until);
  const roomId = room.toString();
  const stay = [dave, bob, carol];
  const epoch = (m: typeof alice) => m.client.room(room)?.epoch ?? 0n;
  // The enlisting of B is committed (epoch 2) before the move: B can sign a removal.
  await until(() => [alice, ...stay].every((m) => epoch(m) >= 2n), "B enlisted (epoch 2)");
  const moved = await f.admin("a.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "b.example",
    reason: "e2e",
  });
  expect(moved).toMatchObject({ status: 200, body: { ok: true, term: "1" } });
  expect(await f.agreedAuthority(["a.example", "b.example"], roomId)).toEqual({
    authority: "b.example",
    term: "1",
  });

  // Every frame of the room that reaches alice's device from here on.
  const toAlice: bigint[] = [];
  alice.conn.onFrame((bytes) => {
    const h = FrameHeader.view(bytes);
    if (h.roomId === room) toAlice.push(h.logIndex);
  });
  const before = epoch(bob);
  const kicked = await f.admin("b.example", "POST", "/admin/kick", {
    room: roomId,
    user: "alice@a.example",
    reason: "e2e",
  });
  expect(kicked.status, JSON.stringify(kicked.body)).toBe(200);
  await until(
    () => alice.client.room(room)?.phase.kind === "removed",
    "alice's client processed its removal",
  );
  await until(
    () => stay.every((m) => epoch(m) === before + 1n),
    "dave (on A), bob and carol (on B) processed the removal's commit",
  );
  for (const m of stay) {
    expect(m.client.room(room)?.phase.kind, m.id).toBe("synchronized");
    expect(
      m.client
        .leaves(room)
        ?.map((l) => l.userId)
        .sort(),
      `${m.id}'s view of the members`,
    ).toEqual(["bob@b.example", "carol@b.example", "dave@a.example"]);
  }

  // After it: carol's message reaches dave on A and bob on B, and never alice's device.
  const after = await f.send(carol, room, "after the kick");
  await until(
    () =>
      dave.received.get(after) === "after the kick" && bob.received.get(after) === "after the kick",
    "dave and bob read it",
  );
  const back = await f.send(dave, room, "from A after the kick");
  await until(() => carol.received.get(back) === "from A after the kick", "carol reads dave's");
  expect([...alice.received.values()]).not.toContain("after the kick");
  expect(toAlice.filter((i) => i >= after)).toEqual([]);
  for (const m of [alice, ...stay]) expect(m.errors, m.id).toEqual([]);
});
