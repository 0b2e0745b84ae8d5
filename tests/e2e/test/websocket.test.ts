/**
 * The WebSocket transport end to end (issue 14): kalandrad as a child process with the
 * real hub core, real client cores (MLS + sender keys). Alice creates a room over
 * WebSocket, Bob joins over WebSocket, Carol over WebTransport; each one's messages reach
 * the other two, whichever transport carries them. A room's owner redacts a message in
 * band (`client.redact`, the web app's "delete"); a plain member is refused.
 */
import {
  connectWebSocket,
  connectWebTransport,
  HubError,
  type KalandraClient,
  type WebSocketConnection,
} from "@kalandra/client";
import { freePort, tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Hub, openClient, startHub, stopHub } from "./kalandrad.js";

const data = tempDir("e2e-ws");
let hub: Hub;
let port: number;
const users: { client: KalandraClient; conn: WebSocketConnection }[] = [];

async function user(id: string, transport: "websocket" | "webtransport") {
  const client = await openClient(id, hub.hubKey);
  const common = { deviceSigner: client.signer, userId: id, hubPublicKey: hub.hubKey };
  const conn =
    transport === "websocket"
      ? await connectWebSocket({ url: hub.websocket, ...common })
      : await connectWebTransport({
          url: `https://127.0.0.1:${port}/kalandra`,
          certHash: hub.certHash,
          ...common,
        });
  const texts: string[] = [];
  const messages: bigint[] = [];
  const redacted: bigint[] = [];
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") {
      texts.push(td.decode(e.plaintext));
      messages.push(e.logIndex);
    }
    if (e.type === "redaction") redacted.push(e.logIndex);
  });
  await client.reconnect(conn);
  users.push({ client, conn });
  return { client, texts, messages, redacted };
}

const until = (pred: () => boolean, what: string): Promise<void> =>
  waitUntil(pred, what, { timeoutMs: 20_000, intervalMs: 20 });
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  port = await freePort();
  hub = await startHub(data.path, port);
});

afterAll(async () => {
  for (const u of users) {
    u.client.close();
    u.conn.close();
  }
  await stopHub(hub);
  data.cleanup();
});

it("a room over WebSocket, joined over WebSocket and WebTransport, carries messages all ways", async () => {
  expect(hub.websocket).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/kalandra$/);
  const alice = await user("alice", "websocket");
  const bob = await user("bob", "websocket");
  const carol = await user("carol", "webtransport");
  const room = await alice.client.createRoom();
  await bob.client.expectWelcome(room);
  await carol.client.expectWelcome(room);
  await alice.client.addMembers(room, ["bob", "carol"]);
  await until(
    () =>
      [alice, bob, carol].every(
        (u) =>
          u.client.room(room)?.phase.kind === "synchronized" && u.client.room(room)?.epoch === 1n,
      ),
    "epoch 1 everywhere",
  );
  await alice.client.send(room, enc("from alice (ws)"));
  await bob.client.send(room, enc("from bob (ws)"));
  await carol.client.send(room, enc("from carol (wt)"));
  const all = ["from alice (ws)", "from bob (ws)", "from carol (wt)"];
  await until(() => [alice, bob, carol].every((u) => u.texts.length === 3), "3 messages each");
  for (const u of [alice, bob, carol]) expect([...u.texts].sort()).toEqual(all);
  // One order for everyone: the hub sequenced them.
  expect(bob.texts).toEqual(alice.texts);
  expect(carol.texts).toEqual(alice.texts);
});

it("the room's owner redacts a message over WebSocket: every member sees it; a plain member may not", async () => {
  const dave = await user("dave", "websocket");
  const erin = await user("erin", "webtransport");
  const room = await dave.client.createRoom();
  await erin.client.expectWelcome(room);
  await dave.client.addMembers(room, ["erin"]);
  await until(() => erin.client.room(room)?.epoch === 1n, "erin in epoch 1");
  const target = await erin.client.send(room, { t: "text", body: "oops" });
  await until(() => dave.messages.includes(target), "dave has the message");

  const refused = await erin.client.redact(room, target).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(HubError);
  expect((refused as HubError).hubName).toBe("FORBIDDEN");

  const notice = await dave.client.redact(room, target, "posted by mistake");
  expect(notice).toBeGreaterThan(target);
  await until(
    () => dave.redacted.includes(target) && erin.redacted.includes(target),
    "both see the redaction",
  );
});
