/**
 * Issue 12, "key packages can be drained": an offline user's key packages were
 * claimed by anyone, after which nobody could add that user (NO_KEY_PACKAGE). Now every
 * device keeps a last-resort package (RFC 9420 §16.8) that the hub hands out when the
 * one-shot ones are gone and never deletes on a claim: the drained user is still added.
 */
import { decodePayload, encodePayload, Opcode } from "@kalandra/proto";
import { expect, it } from "vitest";
import { untilEpoch } from "./clientCores.js";
import { goOffline, hubWithUsers } from "./clients.js";
import { errorName, expectOpcode, pingOk, RawSession } from "./hub.js";

const { hub, bystander, user } = hubWithUsers();

it("a user whose one-shot key packages were drained is still added (last resort) and joins", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  goOffline(bob); // its key packages are uploaded

  const mallory = await RawSession.open(hub(), "mallory");
  const claimed: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = await mallory.request({
      opcode: Opcode.KP_CLAIM,
      payload: encodePayload(Opcode.KP_CLAIM, { user_id: "bob" }),
    });
    expect(errorName(a)).toBeUndefined();
    expectOpcode(a, Opcode.KP_CLAIMED);
    const { claims } = decodePayload(Opcode.KP_CLAIMED, a.payload);
    expect(claims).toHaveLength(1);
    claimed.push(Buffer.from(claims[0]!.key_package).toString("hex"));
  }
  // Two one-shot packages (keyPackageTarget 2), each once; then the last-resort one, again
  // and again: the hub never deletes it.
  expect(new Set(claimed.slice(0, 2)).size).toBe(2);
  expect(claimed[2]).toBe(claimed[3]);
  expect(claimed.slice(0, 2)).not.toContain(claimed[2]);

  const room = await alice.client.createRoom();
  await alice.client.addMembers(room, ["bob"]);
  await bob.reconnect();
  await untilEpoch([alice, bob], room, 1n);
  expect(bob.client.room(room)?.members).toEqual(["alice", "bob"]);
  await pingOk(bystander());
  mallory.close();
});
