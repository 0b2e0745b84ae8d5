/**
 * Real client cores under enrollment (DESIGN §10): each device presents its one-time code
 * in HELLO, the hub authenticates it as `name@localhost` (the client checks AUTH_OK names
 * the user its credential does), and from then on the device authenticates by its key
 * alone. A room of enrolled users works end to end with every leaf bound to its owner,
 * while a self-named client is refused.
 */
import {
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  KalandraClient,
  MemoryStore,
  type WebSocketConnection,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SecurityHub } from "./hub.js";
import { codeAuth, enroll, startEnrollmentHub } from "./identityHub.js";

let hub: SecurityHub;
const open: { client: KalandraClient; conn: WebSocketConnection }[] = [];

beforeAll(async () => {
  hub = await startEnrollmentHub();
});
afterAll(async () => {
  for (const u of open) {
    u.client.close();
    u.conn.close();
  }
  await hub?.stop();
});

async function connect(userId: string, code?: string) {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: hub.hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId,
    keyPackageTarget: 2,
  });
  let used = false;
  const conn = await connectWebSocket({
    url: hub.websocket,
    deviceSigner: client.signer,
    userId,
    hubPublicKey: hub.hubKey,
    // The code once; afterwards the bound device needs nothing.
    auth: () => {
      if (code === undefined || used) return undefined;
      used = true;
      return codeAuth(code);
    },
  });
  await client.reconnect(conn);
  open.push({ client, conn });
  return { client, conn };
}

it("enrolled users share a room; a self-named device is refused", async () => {
  const alice = await enroll(hub, "alice");
  const bob = await enroll(hub, "bob");
  const a = await connect(alice.user, alice.code);
  const b = await connect(bob.user, bob.code);
  const texts: string[] = [];
  b.client.on((e) => {
    if (e.type === "message") texts.push(new TextDecoder().decode(e.plaintext));
  });
  const room = await a.client.createRoom();
  await a.client.addMembers(room, [bob.user]);
  await waitUntil(() => b.client.room(room)?.epoch === 1n, "bob joins");
  await a.client.send(room, new TextEncoder().encode("hello bob"));
  await waitUntil(() => texts.includes("hello bob"), "bob reads alice");
  expect(a.client.room(room)?.members.sort()).toEqual([alice.user, bob.user]);
  await expect(connect("mallory")).rejects.toMatchObject({ code: "AUTH_FAILED" });
});
