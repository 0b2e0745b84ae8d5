/**
 * Issue 12, "Welcome inbox": a user added while offline used to miss its Welcome for good
 * (the hub sent it to the device's sessions, and it had none), so it never joined. Now the
 * hub keeps the Welcome per device and delivers it after the device's next AUTH_OK; the
 * device joins, acknowledges it, and it is not listed any more.
 */
import { expect, it } from "vitest";
import { untilEpoch } from "./clientCores.js";
import { goOffline, hubWithUsers } from "./clients.js";
import { pingOk } from "./hub.js";

const { bystander, user } = hubWithUsers();

it("an invitee offline when added joins after reconnecting, and the Welcome is then gone", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  goOffline(bob); // its key packages are uploaded

  const room = await alice.client.createRoom();
  await alice.client.addMembers(room, ["bob"]);
  await untilEpoch([alice], room, 1n);
  expect(bob.client.room(room)).toBeUndefined();

  await bob.reconnect();
  await untilEpoch([alice, bob], room, 1n);
  const got: string[] = [];
  alice.client.on((e) => {
    if (e.type === "message") got.push(new TextDecoder().decode(e.plaintext));
  });
  await bob.client.send(room, new TextEncoder().encode("back online"));
  await untilEpoch([alice, bob], room, 1n);
  await expect.poll(() => got, { timeout: 20_000 }).toEqual(["back online"]);
  // Acknowledged once joined: nothing is waiting for bob's device any more.
  await expect.poll(() => bob.client.invitations(), { timeout: 10_000 }).toEqual([]);
  await pingOk(bystander());
});
