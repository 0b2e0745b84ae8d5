/**
 * Issue 18, real processes: a planned authority transfer under load. Three kalandrad hubs,
 * a room created on A with members homed on A, B and C; every member keeps sending while
 * the operator moves the room to B (`POST /admin/rooms/transfer`, what `kalandrad admin
 * rooms transfer` calls). The clients see no error (TRANSFERRING is retried by the client
 * core); afterwards every acknowledged message is at its log index on every member, one
 * order everywhere; B sequences the room in term 1 and A and C follow it; writes go on.
 * `ack_quorum` is kalandrad's default, "majority": an acknowledgement means a majority of
 * the voters hold the frame.
 */
import { expect, it } from "vitest";
import { federationForFile, load, orderProblems, sleep, until } from "./federation.js";

const federation = federationForFile("e2e-federation-transfer");

it("moves a room from A to B while members on three hubs keep sending", async () => {
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    // The transfer reads the room from the hub's own storage: shards in-process share it.
    env: { KALANDRA_SERVER__SHARD_RUNTIME: "in-process" },
  });
  await f.startAll();
  const alice = await f.member("alice@a.example");
  const bob = await f.member("bob@b.example");
  const carol = await f.member("carol@c.example");
  const members = [alice, bob, carol];
  const room = await f.room(alice, [bob, carol], until);
  const roomId = room.toString();
  expect(
    (await f.admin("a.example", "GET", `/admin/rooms/${roomId}/authority`)).body,
  ).toMatchObject({ authority: "a.example", term: "0", role: "sequencer" });

  const traffic = load(f, members, room, "load");
  await until(() => members.every((m) => m.sent.size >= 5), "5 messages acknowledged each");
  const t0 = performance.now();
  const moved = await f.admin("a.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "b.example",
    reason: "e2e",
  });
  const answeredAt = performance.now();
  expect(moved).toEqual({
    status: 200,
    body: { ok: true, room: roomId, to: "b.example", term: "1" },
  });
  // Writes go on at the new authority.
  const before = members.map((m) => m.sent.size);
  await until(
    () => members.every((m, i) => m.sent.size >= (before[i] ?? 0) + 5),
    "5 more acknowledged each after the transfer",
  );
  await traffic.stop();
  expect(traffic.failures).toEqual([]);

  const acked = members.reduce((n, m) => n + m.sent.size, 0);
  await until(
    () => members.every((m) => m.received.size === acked),
    `all ${acked} acknowledged messages on every member`,
  );
  expect(orderProblems(members)).toEqual([]);
  for (const m of members) expect(m.errors).toEqual([]);

  for (const [d, role] of [
    ["a.example", "replica"],
    ["b.example", "sequencer"],
    ["c.example", "replica"],
  ] as const) {
    const s = await f.admin(d, "GET", `/admin/rooms/${roomId}/authority`);
    expect(s.body).toMatchObject({ authority: "b.example", term: "1", role });
  }
  // Moving it again from A is refused typed: A is no longer the authority.
  const again = await f.admin("a.example", "POST", "/admin/rooms/transfer", {
    room: roomId,
    to: "c.example",
  });
  expect(again).toMatchObject({ status: 409, body: { ok: false, error: "NOT_AUTHORITY" } });
  const firstAtB = Math.min(
    ...members.flatMap((m) => m.acks.filter((a) => a.at >= answeredAt).map((a) => a.at)),
  );
  console.log(
    JSON.stringify({
      transfer_answer_ms: Math.round(answeredAt - t0),
      first_write_at_new_authority_ms: Math.round(firstAtB - t0),
      acked,
    }),
  );
  // Rooms are sampled into metrics every second.
  const gained = /kalandra_federation_authority_changes_total\{change="gained"\} 1/;
  for (let i = 0; i < 40 && !gained.test(await f.metrics("b.example")); i++) await sleep(100);
  expect(await f.metrics("b.example")).toMatch(gained);
  expect(await f.metrics("a.example")).toMatch(
    /kalandra_federation_transfers_requested_total\{result="ok"\} 1/,
  );
});
