/**
 * An echo bot: one Node process, one device of the user it names. It shows itself online,
 * joins every room it is added to, and answers each text message with a reply quoting it,
 * after showing that it types.
 *
 * Run it next to a development hub (`kalandrad start` prints `websocket` and `hub_key` in
 * its "kalandrad ready" line):
 *
 *   KALANDRA_URL=ws://127.0.0.1:4480/kalandra KALANDRA_HUB_KEY=<hex> \
 *     npx tsx examples/node-bot/echoBot.ts echo-bot
 *
 * then add `echo-bot` to a room. It keeps its device in memory: a restarted bot is a new
 * device (give it a `ClientStore` on disk to keep one).
 */
import { pathToFileURL } from "node:url";
import {
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

export interface EchoBotOptions {
  /** The hub's WebSocket URL, e.g. `ws://127.0.0.1:4480/kalandra`. */
  url: string;
  /** The hub's Ed25519 public key (its frames and handshake are checked against it). */
  hubPublicKey: Uint8Array;
  userId: string;
}

export interface EchoBot {
  client: KalandraClient;
  close(): void;
}

export async function startEchoBot(o: EchoBotOptions): Promise<EchoBot> {
  // The device (and so its signing key) comes from the store, the connection needs that
  // key: open the client first, connect it once the socket is authenticated.
  const notYet = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: notYet,
    hubPublicKey: o.hubPublicKey,
    userId: o.userId,
    store: new MemoryStore(),
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    cs: getKalandraCiphersuiteImpl(systemRng),
  });
  const conn = await connectWebSocket({
    url: o.url,
    deviceSigner: client.signer,
    userId: o.userId,
    hubPublicKey: o.hubPublicKey,
  });
  conn.onReconnect(() => void client.connect()); // resumes every room after a hub restart

  client.on((e) => {
    if (e.type !== "message" || e.own || e.envelope?.t !== "text") return;
    const { roomId, logIndex } = e;
    const body = `echo: ${e.envelope.body}`;
    client.setTyping(roomId, true);
    client
      .send(roomId, { t: "reply", target: logIndex, body })
      .catch((err: unknown) => console.error(`echo-bot: reply failed: ${String(err)}`))
      .finally(() => client.setTyping(roomId, false));
  });
  await client.reconnect(conn); // authenticates, uploads key packages, joins waiting rooms
  client.setPresence("online");
  return {
    client,
    close() {
      client.close();
      conn.close();
    },
  };
}

// Run as a program: `tsx echoBot.ts [user id]`, configured by the environment.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url = process.env.KALANDRA_URL ?? "ws://127.0.0.1:4480/kalandra";
  const key = process.env.KALANDRA_HUB_KEY;
  if (key === undefined || !/^[0-9a-f]{64}$/i.test(key)) {
    console.error("KALANDRA_HUB_KEY: the hub's public key, 64 hex digits (kalandrad's ready line)");
    process.exit(2);
  }
  const userId = process.argv[2] ?? "echo-bot";
  const bot = await startEchoBot({ url, hubPublicKey: Buffer.from(key, "hex"), userId });
  console.log(`echo-bot ready as ${userId}`);
  const stop = () => {
    bot.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
