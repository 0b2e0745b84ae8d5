/**
 * Issue 18 (c), real processes: the room moves A → B → A under load between hubs on
 * kalandrad's worker shards, then A is SIGKILLed and a voter takes it over. After the moves
 * each hub's main storage holds a copy of the log that stopped growing when the room left
 * it (the log grows in the worker shard that sequences it). Nothing acknowledged is lost,
 * the survivors' sends go on, one authority in one term.
 *
 * It stalled in 4 of 31 runs on main before issue 18 (a) (a hub installing its failover win
 * voted for a higher term), then in 6 of 23 in the planned move (the new authority, with the
 * certificate but not yet the handover, proposed a failover against itself); 0 of 20 after
 * both fixes (docs/federation.md "Failover into worker shards"). A stall's error carries
 * every running hub's view, refusals and federation audit records (Federation.stallReport).
 */
import { expect, it } from "vitest";
import {
  federationForFile,
  load,
  survivorProblems,
  until,
  workerFailoverRoom,
} from "./federation.js";

const federation = federationForFile("e2e-federation-worker-moves-failover");

it("moves A → B → A with worker shards, then SIGKILL of A: a voter takes over, nothing acknowledged is lost", async () => {
  const { f, members, room, roomId } = await workerFailoverRoom(federation);
  const [alice, bob, carol] = members;

  const traffic = load(f, members, room, "load");
  const survivors = [bob, carol];
  const step = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (e) {
      const all = ["a.example", "b.example", "c.example"];
      throw new Error(`${what}: ${String(e)}\n${await f.stallReport(all, roomId)}`);
    }
  };
  await step("load", () =>
    until(() => members.every((m) => m.sent.size >= 5), "5 acknowledged each"),
  );
  await step("A → B", () => f.moveUnderLoad(members, roomId, "a.example", "b.example"));
  await step("B → A", () => f.moveUnderLoad(members, roomId, "b.example", "a.example"));
  await f.kill("a.example");
  const before = survivors.map((m) => m.sent.size);
  await step("failover", () =>
    until(
      () => survivors.every((m, i) => m.sent.size >= (before[i] ?? 0) + 5),
      "5 more acknowledged each after the failover",
    ),
  );
  alice.client.close();
  alice.conn.close();
  await traffic.stop();

  expect(await survivorProblems(members, survivors)).toEqual([]);
  const { authority } = await f.agreedAuthority(["b.example", "c.example"], roomId);
  expect(["b.example", "c.example"]).toContain(authority);
});
