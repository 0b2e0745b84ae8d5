/**
 * Issue 12, "key packages can be drained": an offline user's three key packages were
 * claimed by anyone, after which nobody could add that user (NO_KEY_PACKAGE). Now every
 * device keeps a last-resort package (RFC 9420 §16.8) that the hub hands out when the
 * one-shot ones are gone and never deletes on a claim: the drained user is still added.
 */
import { decodePayload, encodePayload, Opcode } from "@kalandra/proto";
import { expect, it } from "vitest";
import { hubWithUsers, inEpoch } from "./clients.js";
import { errorName, expectOpcode, pingOk, RawSession } from "./hub.js";

const { hub, bystander, user } = hubWithUsers();

it("a user whose one-shot key packages were drained is still added (last resort) and joins", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  await alice.online();
  await bob.online();
  bob.offline();

  const mallory = await RawSession.open(hub(), "mallory");
  const claimed: string[] = [];
  for (let i = 0; i < 5; i++) {
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
  // Three one-shot packages, each once; then the last-resort one, again and again.
  expect(new Set(claimed.slice(0, 3)).size).toBe(3);
  expect(claimed[3]).toBe(claimed[4]);
  expect(claimed.slice(0, 3)).not.toContain(claimed[3]);

  const room = await alice.client.createRoom();
  await alice.client.addMembers(room, ["bob"]);
  await bob.online();
  await inEpoch([alice, bob], room, 1n);
  expect(bob.client.room(room)?.members).toEqual(["alice", "bob"]);
  await pingOk(bystander());
  mallory.close();
});
