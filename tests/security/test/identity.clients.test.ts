/**
 * Real client cores under enrollment (DESIGN §10): each device presents its one-time code
 * in HELLO, the hub authenticates it as `name@localhost` (the client checks AUTH_OK names
 * the user its credential does), and from then on the device authenticates by its key
 * alone. A room of enrolled users works end to end with every leaf bound to its owner,
 * while a self-named client is refused.
 */
import { waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeUser, openUser, type User } from "./clientCores.js";
import type { SecurityHub } from "./hub.js";
import { codeAuth, enroll, startEnrollmentHub } from "./identityHub.js";

let hub: SecurityHub;
const users: User[] = [];

beforeAll(async () => {
  hub = await startEnrollmentHub();
});
afterAll(async () => {
  for (const u of users) closeUser(u);
  await hub?.stop();
});

/** A client core presenting its one-time code in its first HELLO, nothing afterwards. */
async function connect(userId: string, code?: string): Promise<User> {
  let used = false;
  const u = await openUser(hub, userId, {
    auth: () => {
      if (code === undefined || used) return undefined;
      used = true;
      return codeAuth(code);
    },
  });
  users.push(u);
  return u;
}

it("enrolled users share a room; a self-named device is refused", async () => {
  const alice = await enroll(hub, "alice");
  const bob = await enroll(hub, "bob");
  const a = await connect(alice.user, alice.code);
  const b = await connect(bob.user, bob.code);
  const room = await a.client.createRoom();
  await a.client.addMembers(room, [bob.user]);
  await waitUntil(() => b.client.room(room)?.epoch === 1n, "bob joins");
  await a.client.send(room, new TextEncoder().encode("hello bob"));
  await waitUntil(() => b.texts.includes("hello bob"), "bob reads alice");
  expect(a.client.room(room)?.members.sort()).toEqual([alice.user, bob.user]);
  await expect(connect("mallory")).rejects.toMatchObject({ code: "AUTH_FAILED" });
});
