/**
 * What the pack check's consumer (consumer.ts, Node) and page (browserPage.ts, Chromium)
 * share: copied next to them into the npm project, so it imports only the installed
 * tarballs. A client core for a user, joined to the hub through a connection made with
 * the client's own signer, and a bounded wait.
 */
import {
  getKalandraCiphersuiteImpl,
  type HubConnection,
  KalandraClient,
  MemoryStore,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";

export const fromHex = (h: string): Uint8Array =>
  Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

/** Resolves once `pred` holds; throws after 20 s naming `what`. */
export async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface User {
  client: KalandraClient;
  conn: HubConnection;
  /** `"<userId>: <text>"` of every message from someone else, in order. */
  heard: string[];
}

/** Opens a client for `userId`, connects it with `connect` (given its signer) and listens. */
export async function openUser(
  userId: string,
  hubPublicKey: Uint8Array,
  connect: (deviceSigner: KalandraClient["signer"]) => Promise<HubConnection>,
): Promise<User> {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId,
  });
  const heard: string[] = [];
  const dec = new TextDecoder();
  client.on((e) => {
    if (e.type === "message" && !e.own) {
      const text = e.envelope?.t === "text" ? e.envelope.body : dec.decode(e.plaintext);
      heard.push(`${e.userId}: ${text}`);
    }
  });
  const conn = await connect(client.signer);
  await client.reconnect(conn);
  return { client, conn, heard };
}
