/**
 * Presence and typing end to end (issue 14): kalandrad as a child process, real client
 * cores on both transports. Alice and Bob speak WebSocket (ephemeral frames are ordinary
 * messages), Carol WebTransport (the hub relays them to her as datagrams). Signals reach
 * the other members and lapse on their own; the hub refuses an outsider, an oversized
 * payload and a flood with typed errors while the members go on unharmed.
 */
import type { ClientEvent, HubError, KalandraClient, WebSocketConnection } from "@kalandra/client";
import {
  decodePayload,
  encodeFrame,
  encodePayload,
  FrameHeader,
  HEADER_SIZE,
  Opcode,
} from "@kalandra/proto";
import { expect, it } from "vitest";
import { hubForFile, type Transport } from "./kalandrad.js";

const TYPING_TTL_MS = 1_500;
const e2e = hubForFile("e2e-presence");
const until = e2e.until;

interface User {
  client: KalandraClient;
  conn: WebSocketConnection;
  events: ClientEvent[];
}

async function user(id: string, transport: Transport): Promise<User> {
  const extra = { presence: { typingTtlMs: TYPING_TTL_MS } };
  const { client, conn } = await e2e.connect(id, transport, extra);
  const events: ClientEvent[] = [];
  client.on((e) => events.push(e));
  await client.reconnect(conn);
  return { client, conn, events };
}

const signals = (u: User, type: "presence" | "typing") => u.events.filter((e) => e.type === type);
const refusals = (u: User) =>
  u.events.flatMap((e) => (e.type === "error" ? [(e.error as HubError).hubName] : []));

/** Raw ERROR answers arriving on a connection, by request_id. */
function errorsOn(conn: WebSocketConnection): Map<number, string> {
  const out = new Map<number, string>();
  conn.onFrame((bytes) => {
    const h = FrameHeader.view(bytes);
    if (h.opcode === Opcode.ERROR)
      out.set(h.requestId, decodePayload(Opcode.ERROR, bytes.subarray(HEADER_SIZE)).name);
  });
  return out;
}

it("relays typing and presence over WebSocket and WebTransport; refuses outsiders, oversize and floods", async () => {
  const alice = await user("alice", "websocket");
  const bob = await user("bob", "websocket");
  const carol = await user("carol", "webtransport");
  const room = await e2e.roomOf(alice.client, [bob, carol]);

  // Typing from a WebSocket client reaches both; unrenewed, it lapses on its own.
  alice.client.setTyping(room, true);
  await until(
    () => [bob, carol].every((u) => signals(u, "typing").length === 1),
    "bob and carol see alice typing",
  );
  for (const u of [bob, carol])
    expect(signals(u, "typing")[0]).toMatchObject({ userId: "alice", typing: true });
  await until(
    () => [bob, carol].every((u) => signals(u, "typing").length === 2),
    "alice's typing lapses",
  );
  for (const u of [bob, carol]) {
    expect(signals(u, "typing")[1]).toMatchObject({ userId: "alice", typing: false });
    expect(u.client.presence(room).typing).toEqual([]);
  }

  // Presence from the WebTransport client reaches both WebSocket clients.
  carol.client.setPresence("online");
  await until(
    () => [alice, bob].every((u) => signals(u, "presence").length === 1),
    "alice and bob see carol online",
  );
  for (const u of [alice, bob])
    expect(u.client.presence(room).present).toMatchObject([{ userId: "carol", status: "online" }]);
  carol.client.setPresence(undefined);

  // An authenticated outsider's PRESENCE: NOT_MEMBER, relayed to nobody.
  const mallory = await user("mallory", "websocket");
  const malloryErrors = errorsOn(mallory.conn);
  const forged = (requestId: number, status: string) =>
    encodeFrame(
      {
        opcode: Opcode.PRESENCE,
        requestId,
        roomId: room,
        senderId: mallory.client.senderId,
        epoch: 1n,
        payload: encodePayload(Opcode.PRESENCE, { status }),
      },
      mallory.client.signer,
    );
  mallory.conn.send(forged(0x7000_0001, "let me in"));
  await until(() => malloryErrors.has(0x7000_0001), "mallory refused");
  expect(malloryErrors.get(0x7000_0001)).toBe("NOT_MEMBER");

  // A member's oversized status (past the client's own check): PAYLOAD_TOO_LARGE.
  const bobErrors = errorsOn(bob.conn);
  bob.conn.send(
    encodeFrame(
      {
        opcode: Opcode.PRESENCE,
        requestId: 0x7000_0002,
        roomId: room,
        senderId: bob.client.senderId,
        epoch: 1n,
        payload: encodePayload(Opcode.PRESENCE, { status: "x".repeat(4096) }),
      },
      bob.client.signer,
    ),
  );
  await until(() => bobErrors.has(0x7000_0002), "bob's oversized presence refused");
  expect(bobErrors.get(0x7000_0002)).toBe("PAYLOAD_TOO_LARGE");

  // A flood of presence changes: the hub relays its burst and refuses the rest RATE_LIMITED,
  // which reach Alice's client as error events; Bob sees only what was relayed.
  const flood = 80;
  const bobBefore = signals(bob, "presence").length;
  for (let i = 0; i < flood; i++) alice.client.setPresence(`s${i}`);
  await until(
    () => refusals(alice).length + signals(carol, "presence").length >= flood,
    "every flooded presence relayed to carol or refused",
  );
  const refused = refusals(alice);
  // At least the burst (30) passes; tokens refill at 5/s while the hub works through the
  // flood, so how many more pass depends on the machine, but not all 80.
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.length).toBeLessThanOrEqual(flood - 30);
  expect(new Set(refused)).toEqual(new Set(["RATE_LIMITED"]));
  const relayed = flood - refused.length;
  await until(
    () => signals(bob, "presence").length - bobBefore === relayed,
    "bob sees the relayed ones",
  );
  // The members are unharmed: a message still goes through.
  await bob.client.send(room, new TextEncoder().encode("still here"));
  await until(
    () => alice.events.some((e) => e.type === "message" && e.userId === "bob"),
    "alice gets bob's message",
  );
  alice.client.setPresence(undefined);
});
