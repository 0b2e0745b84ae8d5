/**
 * Regression (issue 7, the intermittent e2e restart scenario): an own frame sent while the
 * connection is down is asked twice after the reconnect, once when the held requests are
 * released (`resendAll`) and once more by the room's resume (`resumeInflight`), which finds
 * it still in flight when the room's sync came back before the hub's answer. Both asks carry
 * the same request_id; the first caller must get the one answer. Before the fix the second
 * ask replaced the first one's entry, so `send()` waited until its attempts ran out (60 s
 * in the e2e scenario) although the hub had answered.
 */
import { Opcode } from "@kalandra/proto";
import { expect, it } from "vitest";
import type { HubConnection } from "../../src/client.js";
import { text, World, waitEpoch } from "../support/world.js";

const opcodeOf = (f: Uint8Array): number => (f[6] ?? 0) * 256 + (f[7] ?? 0);

it("a message sent while disconnected resolves once after the reconnect, though asked twice", async () => {
  const w = await World.create("resume-ask");
  const policy = { requestPolicy: { retryMs: 200, maxAttempts: 15 } };
  const [alice, bob] = [await w.client("alice"), await w.client("bob", undefined, policy)];
  const room = await alice.client.createRoom();
  await alice.client.addMembers(room, ["bob"]);
  await waitEpoch([alice, bob], room, 1n);

  bob.client.disconnect();
  const sent = bob.client.send(room, text("while away"));

  // The hub is slow to sequence APP_MESSAGEs (its append is in flight): the resumed room's
  // sync is answered first, without the message, and the resume asks for it again.
  const inner = w.relay.connect();
  const slow: HubConnection = {
    send(frame) {
      if (opcodeOf(frame) !== Opcode.APP_MESSAGE) return inner.send(frame);
      setTimeout(() => inner.send(frame), 300);
    },
    onFrame: (cb) => inner.onFrame(cb),
    close: () => inner.close(),
  };
  await bob.client.reconnect(slow);

  const logIndex = await sent; // before the fix: RequestTimeoutError after 15 attempts
  expect(logIndex).toBe(2n);
  await new Promise((r) => setTimeout(r, 100));
  expect(alice.texts(room)).toEqual(["while away"]);
  expect(bob.client.room(room)?.nextLogIndex).toBe(3n);
});
