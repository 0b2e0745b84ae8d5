/**
 * The client in a web page: one device talking to kalandrad over WebSocket (browsers reach
 * the hub only that way: WebTransport needs HTTP/3). Bundle it for browsers, e.g.
 *
 *   npx esbuild examples/browser/chat.ts --bundle --platform=browser --format=esm --outfile=chat.js
 *
 * (the `browser` condition picks the client's web platform: WebCrypto and @noble, the global
 * WebSocket). The page needs a secure context (https, or http on 127.0.0.1/localhost) for
 * WebCrypto. Devices live in memory here; `IndexedDbStore` keeps them across reloads.
 */
import {
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

export interface ChatOptions {
  /** The hub's WebSocket URL, e.g. `ws://127.0.0.1:4480/kalandra`. */
  url: string;
  /** The hub's public key, 64 hex digits (kalandrad's ready line, or its config). */
  hubKeyHex: string;
  userId: string;
}

/** Opens a device for `userId`, connects it, and resolves once it is authenticated. */
export async function openChat(o: ChatOptions): Promise<KalandraClient> {
  const hubPublicKey = Uint8Array.from(o.hubKeyHex.match(/../g) ?? [], (h) => parseInt(h, 16));
  const notYet = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: notYet, // replaced by the WebSocket below, which needs the device's key
    hubPublicKey,
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
    hubPublicKey,
  });
  conn.onReconnect(() => void client.connect()); // resumes every room after a hub restart
  await client.reconnect(conn);
  return client;
}

/**
 * What a chat page does with it: a room with `peer`, a message, the peer's answer.
 *
 * @example
 * const client = await openChat({ url, hubKeyHex, userId: "alice" });
 * const answer = await chatWith(client, "bob", "hello bob");
 * document.body.textContent = answer;
 */
export async function chatWith(
  client: KalandraClient,
  peer: string,
  text: string,
): Promise<string> {
  const room = await client.createRoom();
  const answer = new Promise<string>((resolve) =>
    client.on((e) => {
      if (e.type === "message" && e.roomId === room && !e.own && e.envelope?.t !== undefined)
        resolve("body" in e.envelope ? e.envelope.body : e.envelope.t);
    }),
  );
  await client.addMembers(room, [peer]); // the peer joins from the Welcome
  client.setPresence("online");
  await client.send(room, { t: "text", body: text });
  return answer;
}
