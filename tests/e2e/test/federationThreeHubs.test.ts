/**
 * Issue 18, real processes: three kalandrad hubs federating on loopback, one room across
 * all three. alice@a.example creates it on hub A (its authority) and adds bob@b.example and
 * carol@c.example, each homed on their own hub (key packages claimed over the links,
 * Welcomes routed by their hubs). All three send at once; every acknowledged message
 * reaches every member at the log index the authority gave it, in one order everywhere.
 */
import { expect, it } from "vitest";
import {
  type Federation,
  federationForFile,
  type Member,
  orderProblems,
  until,
} from "./federation.js";

const federation = federationForFile("e2e-federation-three");

/** `n` messages from `m`, one after the other (each waits for its acknowledgement). */
async function burst(f: Federation, m: Member, room: bigint, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await f.send(m, room, `${m.id} #${i}`);
}

it("a room across three hubs: members on each, concurrent senders, one order everywhere", async () => {
  const f = await federation.create(["a.example", "b.example", "c.example"]);
  await f.startAll();
  const alice = await f.member("alice@a.example");
  const bob = await f.member("bob@b.example");
  const carol = await f.member("carol@c.example");
  const room = await f.room(alice, [bob, carol], until);

  const N = 15;
  await Promise.all([alice, bob, carol].map((m) => burst(f, m, room, N)));
  const members = [alice, bob, carol];
  await until(
    () => members.every((m) => m.received.size === 3 * N),
    `${3 * N} messages on every member`,
  );
  expect(orderProblems(members)).toEqual([]);
  for (const m of members) {
    expect(m.sent.size).toBe(N);
    expect(m.errors).toEqual([]);
  }
  // One order: the same sequence of texts by log index on every hub's members.
  const sequence = (m: Member) =>
    [...m.received].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, t]) => t);
  expect(sequence(bob)).toEqual(sequence(alice));
  expect(sequence(carol)).toEqual(sequence(alice));
});
