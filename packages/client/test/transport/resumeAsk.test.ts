/**
 * Regression (issue 7, the intermittent e2e restart scenario): an own frame sent while the
 * connection is down is asked twice after the reconnect, once when the held requests are
 * released (`resendAll`) and once more by the room's resume (`resumeInflight`), which finds
 * it still in flight when the room's sync came back before the hub's answer. Both asks carry
 * the same request_id; the first caller must get the one answer. Before the fix the second
 * ask replaced the first one's entry, so `send()` waited until its attempts ran out (60 s
 * in the e2e scenario) although the hub had answered.
 *
 * The order is forced, not timed: the hub gets the message only once the resumed room's
 * sync has completed without it, and the retry timer is too slow to ask in between.
 */
import { Opcode } from "@kalandra/proto";
import { within } from "@kalandra/test-support";
import { expect, it } from "vitest";
import type { HubConnection } from "../../src/client.js";
import { text, World, waitEpoch, waitFor } from "../support/world.js";

const opcodeOf = (f: Uint8Array): number => (f[6] ?? 0) * 256 + (f[7] ?? 0);

it("a message sent while disconnected resolves once after the reconnect, though asked twice", async () => {
  const w = await World.create("resume-ask");
  // No resend by timer during the test: the only asks are the two under test.
  const policy = { requestPolicy: { retryMs: 120_000, maxAttempts: 2 } };
  const [alice, bob] = [await w.client("alice"), await w.client("bob", undefined, policy)];
  const room = await alice.client.createRoom();
  await alice.client.addMembers(room, ["bob"]);
  await waitEpoch([alice, bob], room, 1n);

  bob.client.disconnect();
  const sent = bob.client.send(room, text("while away"));

  // The hub's append of the APP_MESSAGE is "in flight": it reaches the hub only after the
  // resumed room's sync was answered without it.
  const inner = w.relay.connect();
  const held: Uint8Array[] = [];
  let open = false;
  const gated: HubConnection = {
    send(frame) {
      if (open || opcodeOf(frame) !== Opcode.APP_MESSAGE) inner.send(frame);
      else held.push(frame);
    },
    onFrame: (cb) => inner.onFrame(cb),
    close: () => inner.close(),
  };
  const reconnected = bob.client.reconnect(gated);
  await waitFor(
    () => bob.client.room(room)?.phase.kind === "synchronized",
    "bob's room synced after the reconnect",
  );
  expect(held.map(opcodeOf)).toEqual([Opcode.APP_MESSAGE]); // released by resendAll
  expect(bob.client.room(room)?.nextLogIndex).toBe(2n); // the sync did not bring it
  open = true;
  for (const f of held) inner.send(f);

  // Before the fix: never resolves (the first caller lost its entry to the second ask).
  const logIndex = await within(sent, 10_000, "send() to resolve after the reconnect");
  expect(logIndex).toBe(2n);
  await within(reconnected, 10_000, "the reconnect (resume included) to finish");

  await waitFor(() => alice.client.room(room)?.nextLogIndex === 3n, "alice applying index 2");
  expect(alice.texts(room)).toEqual(["while away"]);
  expect(bob.client.room(room)?.nextLogIndex).toBe(3n);
  // Sequenced once: the hub's log holds create, the add commit and one APP_MESSAGE.
  const log = w.relay.rooms.get(room)?.log ?? [];
  expect(log.map(opcodeOf)).toEqual([Opcode.ROOM_CREATE, Opcode.COMMIT, Opcode.APP_MESSAGE]);
});
