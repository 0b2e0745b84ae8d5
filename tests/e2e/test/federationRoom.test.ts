/**
 * Issue 18, real processes: a room across two kalandrad hubs. alice@a.example on hub A
 * creates a room and adds bob@b.example, whose home is hub B (his key package claimed
 * through the hub link, his Welcome routed by B); both send, and each sees the other's
 * messages in the same order (A sequences, B keeps the replica and fans out).
 */
import { tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, expect, it } from "vitest";
import { Federation, orderProblems } from "./federation.js";

const tmp = tempDir("e2e-federation-room");
let fed: Federation | undefined;
afterAll(async () => {
  await fed?.close();
  tmp.cleanup();
});

const until = (pred: () => boolean, what: string): Promise<void> =>
  waitUntil(pred, what, { timeoutMs: 30_000, intervalMs: 20 });

it("a room on hub A with a member whose home is hub B", async () => {
  fed = await Federation.create(tmp.path, ["a.example", "b.example"]);
  const f = fed;
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
