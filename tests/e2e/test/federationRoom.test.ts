/**
 * Issue 18, real processes: a room across two kalandrad hubs. alice@a.example on hub A
 * creates a room and adds bob@b.example, whose home is hub B (his key package claimed
 * through the hub link, his Welcome routed by B); both send, and each sees the other's
 * messages in the same order (A sequences, B keeps the replica and fans out).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { connectWebSocket, type KalandraClient, type WebSocketConnection } from "@kalandra/client";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  waitUntil,
  writeHubKey,
} from "@kalandra/test-support";
import { afterAll, expect, it } from "vitest";
import { BIN, openClient } from "./kalandrad.js";

const tmp = tempDir("e2e-federation-room");
const hubs: Kalandrad[] = [];
const users: { client: KalandraClient; conn: WebSocketConnection }[] = [];
afterAll(async () => {
  for (const u of users) {
    u.client.close();
    u.conn.close();
  }
  for (const h of hubs) {
    if (h.child.exitCode === null && h.child.signalCode === null) {
      h.child.kill("SIGTERM");
      await h.exit;
    }
  }
  tmp.cleanup();
});

interface Spec {
  domain: string;
  dataDir: string;
  keyPath: string;
  hubKey: string;
  wsPort: number;
}

async function spec(domain: string): Promise<Spec> {
  const dir = join(tmp.path, domain);
  mkdirSync(dir, { recursive: true });
  const keyPath = join(dir, "hub-key.pem");
  return {
    domain,
    dataDir: join(dir, "data"),
    keyPath,
    hubKey: writeHubKey(keyPath),
    wsPort: await freePort(),
  };
}

async function start(s: Spec, peer: Spec): Promise<Kalandrad> {
  const hub = await startKalandrad({
    bin: BIN,
    dataDir: s.dataDir,
    listen: "127.0.0.1:0",
    websocketListen: `127.0.0.1:${s.wsPort}`,
    monitoringListen: "",
    env: {
      KALANDRA_SERVER__DOMAIN: s.domain,
      KALANDRA_SERVER__HUB_KEY: s.keyPath,
      KALANDRA_SERVER__SHARDS: "1",
      KALANDRA_FEDERATION__ENABLED: "true",
      KALANDRA_FEDERATION__RECONNECT_MIN_MS: "100",
      KALANDRA_FEDERATION__RECONNECT_MAX_MS: "1000",
      KALANDRA_FEDERATION__PEERS: JSON.stringify([
        {
          domain: peer.domain,
          url: `ws://127.0.0.1:${peer.wsPort}/kalandra`,
          hub_key: peer.hubKey,
        },
      ]),
    },
  });
  hubs.push(hub);
  return hub;
}

async function user(id: string, hub: Kalandrad) {
  const client = await openClient(id, hub.hubKey);
  const conn = await connectWebSocket({
    url: hub.websocket,
    deviceSigner: client.signer,
    userId: id,
    hubPublicKey: hub.hubKey,
  });
  const texts: string[] = [];
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") texts.push(td.decode(e.plaintext));
  });
  await client.reconnect(conn);
  users.push({ client, conn });
  return { client, texts };
}

const until = (pred: () => boolean, what: string): Promise<void> =>
  waitUntil(pred, what, { timeoutMs: 30_000, intervalMs: 20 });
const enc = (s: string) => new TextEncoder().encode(s);

it("a room on hub A with a member whose home is hub B", async () => {
  const [a, b] = [await spec("a.example"), await spec("b.example")];
  const hubB = await start(b, a);
  const hubA = await start(a, b);
  const alice = await user("alice@a.example", hubA);
  const bob = await user("bob@b.example", hubB);
  const room = await alice.client.createRoom();
  const welcomed = bob.client.expectWelcome(room);
  await alice.client.addMembers(room, ["bob@b.example"]);
  await welcomed;
  await until(() => bob.client.room(room)?.epoch === 1n, "bob joined in epoch 1");
  await alice.client.send(room, enc("from alice@a"));
  await bob.client.send(room, enc("from bob@b"));
  await until(() => alice.texts.length === 2 && bob.texts.length === 2, "2 messages each");
  expect([...alice.texts].sort()).toEqual(["from alice@a", "from bob@b"]);
  expect(bob.texts).toEqual(alice.texts);
});
