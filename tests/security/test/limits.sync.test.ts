/**
 * Issue 12, "one big message breaks catch-up for the room": SYNC_PAGE capped entries but
 * not bytes (a 200-byte request produced a 63 MB answer), and after one 16 MiB APP_MESSAGE
 * even a one-entry page exceeded the 16 MiB frame limit, so no client could sync past it.
 * Now the hub refuses sequenced payloads a one-entry page could not carry
 * (PAYLOAD_TOO_LARGE), stops each page at a byte budget, and a member that was offline
 * syncs past the largest admissible messages. Before the change the payload one byte above
 * the bound was sequenced and the first page was over the frame limit.
 */
import {
  DEFAULT_MAX_PAYLOAD,
  decodePayload,
  encodePayload,
  HEADER_SIZE,
  maxSequencedPayload,
  Opcode,
} from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { expect, it } from "vitest";
import { enc, rawAs, untilEpoch } from "./clientCores.js";
import { hubWithUsers } from "./clients.js";
import { errorName, pingOk } from "./hub.js";

const { hub, bystander, user } = hubWithUsers();

/** An APP_MESSAGE payload of exactly `size` bytes. */
function appPayload(size: number): Uint8Array {
  const ciphertext = new Uint8Array(size - 16).fill(1);
  for (let n = ciphertext.length; n > 0; n--) {
    const p = encodePayload(Opcode.APP_MESSAGE, {
      generation: 0,
      ciphertext: ciphertext.subarray(0, n),
    });
    if (p.length === size) return p;
  }
  throw new Error(`no APP_MESSAGE payload of ${size} bytes`);
}

it("refuses an entry no page could carry; pages stay within the frame limit; an offline member syncs past the largest entries", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  const room = await alice.client.createRoom();
  await bob.client.expectWelcome(room);
  await alice.client.addMembers(room, ["bob"]);
  await untilEpoch([alice, bob], room, 1n);
  bob.conn.close(); // bob is away while the big messages arrive
  bob.client.disconnect();

  const raw = await rawAs(hub(), alice);
  const largest = maxSequencedPayload(DEFAULT_MAX_PAYLOAD);
  const tooBig = await raw.request(
    { opcode: Opcode.APP_MESSAGE, roomId: room, epoch: 1n, payload: appPayload(largest + 1) },
    30_000,
  );
  expect(errorName(tooBig)).toBe("PAYLOAD_TOO_LARGE");
  for (let i = 0; i < 3; i++) {
    const ack = await raw.request(
      { opcode: Opcode.APP_MESSAGE, roomId: room, epoch: 1n, payload: appPayload(largest) },
      30_000,
    );
    expect(ack.header.opcode).toBe(Opcode.ACK);
  }
  await alice.client.send(room, enc("after the big ones"));

  // A ~40-byte SYNC_REQUEST for 256 entries: the page stops at its byte budget, never at
  // 3 × 16 MiB; paging on reaches the head, each page within the frame limit.
  const sizes: number[] = [];
  raw.ws.on("message", (d: Buffer) => sizes.push(d.length));
  let from = 0n;
  for (let pages = 0; pages < 20; pages++) {
    const page = await raw.request(
      {
        opcode: Opcode.SYNC_REQUEST,
        roomId: room,
        epoch: 1n,
        payload: encodePayload(Opcode.SYNC_REQUEST, { from, limit: 256 }),
      },
      30_000,
    );
    const p = decodePayload(Opcode.SYNC_PAGE, page.payload);
    expect(page.payload.length).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD);
    expect(p.entries.length).toBeGreaterThan(0);
    from = p.next;
    if (from === p.head) break;
  }
  expect(Math.max(...sizes)).toBeLessThanOrEqual(HEADER_SIZE + DEFAULT_MAX_PAYLOAD);
  raw.close();

  // Bob comes back, syncs past the three largest entries and reads what followed them.
  await bob.reconnect();
  await waitUntil(
    () => bob.texts.includes("after the big ones"),
    "bob reads past the big entries",
    {
      timeoutMs: 60_000,
      intervalMs: 50,
    },
  );
  await pingOk(bystander());
}, 180_000);
