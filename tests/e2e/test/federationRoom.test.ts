/**
 * Issue 18, real processes: a room across two kalandrad hubs. alice@a.example on hub A
 * creates a room and adds bob@b.example, whose home is hub B (his key package claimed
 * through the hub link, his Welcome routed by B); both send, and each sees the other's
 * messages in the same order (A sequences, B keeps the replica and fans out).
 */
import { expect, it } from "vitest";
import { federationForFile, orderProblems, until } from "./federation.js";

const federation = federationForFile("e2e-federation-room");

it("a room on hub A with a member whose home is hub B", async () => {
  const f = await federation.create(["a.example", "b.example"]);
  await f.start("b.example");
  await f.start("a.example");
  const alice = await f.member("alice@a.example");
  const bob = await f.member("bob@b.example");
  const room = await f.room(alice, [bob], until);
  await f.send(alice, room, "from alice@a");
  await f.send(bob, room, "from bob@b");
  await until(() => alice.received.size === 2 && bob.received.size === 2, "2 messages each");
  expect([...alice.received.values()].sort()).toEqual(["from alice@a", "from bob@b"]);
  expect([...bob.received]).toEqual([...alice.received]);
  expect(orderProblems([alice, bob])).toEqual([]);
});
