/**
 * Issue 18 (d), real processes with kalandrad's default shard runtime (worker threads, each
 * shard its own LMDB directory; `server.shards = 0`: one per core). A room created on A
 * (its log in one of A's worker shards) with members homed on A, B and C, all sending:
 *
 * 1. moved A → B (`POST /admin/rooms/transfer`): A finds the room through its shard, B copies
 *    the log its replica holds into the worker shard that owns the room and sequences it
 *    there (shards/logImport.ts); A's worker shard refuses writes from then on;
 * 2. moved back B → A: A's shard continues its own older copy of the log from B's entries.
 *
 * Throughout: no client error, every acknowledged message at its log index on every member,
 * one order everywhere. Failover into worker shards: docs/federation.md "Shards (design)".
 */
import { expect, it } from "vitest";
import { federationForFile, load, orderProblems, until } from "./federation.js";

const federation = federationForFile("e2e-federation-worker-shards");

it("moves a room A → B → A under load between hubs running worker shards", async () => {
  const f = await federation.create(["a.example", "b.example", "c.example"], {
    env: {
      KALANDRA_SERVER__SHARDS: "0",
      KALANDRA_FEDERATION__ACK_QUORUM: "majority",
    },
  });
  await f.startAll();
  const { members, room } = await f.threeMemberRoom();
  const roomId = room.toString();

  // A room that never moved: its log only in A's worker shard, A its authority in term 0.
  const first = await f.admin("a.example", "GET", `/admin/rooms/${roomId}/authority`);
  expect(first).toMatchObject({
    status: 200,
    body: { authority: "a.example", term: "0", role: "sequencer" },
  });

  const traffic = load(f, members, room, "load");
  await until(() => members.every((m) => m.sent.size >= 5), "5 messages acknowledged each");
  const t1 = await f.moveUnderLoad(members, roomId, "a.example", "b.example");
  const t2 = await f.moveUnderLoad(members, roomId, "b.example", "a.example");
  // Terms only grow (a planned transfer proposes above any term a voter has seen).
  expect(BigInt(t1)).toBeGreaterThanOrEqual(1n);
  expect(BigInt(t2)).toBeGreaterThan(BigInt(t1));
  expect(traffic.failures).toEqual([]);
  for (const d of ["a.example", "b.example", "c.example"]) {
    const s = await f.admin(d, "GET", `/admin/rooms/${roomId}/authority`);
    expect(s.body).toMatchObject({ authority: "a.example", term: t2 });
  }

  await traffic.stop();
  const acked = members.reduce((n, m) => n + m.sent.size, 0);
  await until(
    () => members.every((m) => m.received.size === acked),
    `all ${acked} acknowledged messages on every member`,
  );
  expect(orderProblems(members)).toEqual([]);
  for (const m of members) expect(m.errors).toEqual([]);
});
