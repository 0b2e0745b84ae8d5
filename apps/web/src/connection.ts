/**
 * One signed-in user in this tab: its device (an `IndexedDbStore` per user, so two users
 * in two windows of one browser stay apart), its client core, and the WebSocket to the hub
 * that served the page. The WebSocket reconnects by itself with backoff; after each
 * reconnect the client core re-authenticates and resumes every room from its last
 * log_index (docs/client.md), which is how the conversation survives a hub restart.
 */
import {
  type ConnectionState,
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  type HelloAuth,
  IndexedDbStore,
  KalandraClient,
  type WebSocketConnection,
} from "@kalandra/client";
import { bytesEqual, systemClock, systemRng, systemTimers, toHex } from "@kalandra/proto";
import { type AppSettings, fromHex } from "./settings.js";

export interface SignIn {
  userId: string;
  /** What HELLO presents for a new device (an OIDC token); none under the dev authenticator. */
  auth?: HelloAuth;
}

export interface Connected {
  client: KalandraClient;
  conn: WebSocketConnection;
  store: IndexedDbStore;
  close(): void;
}

export class HubKeyChangedError extends Error {
  override readonly name = "HubKeyChangedError";
}

const HUB_KEY = "app/hub-key";

/** The database of one user's device in this browser. */
export function deviceDbName(userId: string): string {
  return `kalandra-device/${userId}`;
}

/**
 * Opens the user's device and connects it. The hub key is pinned in the device store on
 * first use: a later page that presents another key is refused (HubKeyChangedError).
 */
export async function connect(
  settings: AppSettings,
  signIn: SignIn,
  url: string,
  onState: (s: ConnectionState) => void,
): Promise<Connected> {
  const hubPublicKey = fromHex(settings.hubPublicKey);
  const store = await IndexedDbStore.open({ name: deviceDbName(signIn.userId) });
  try {
    const pinned = await store.get(HUB_KEY);
    if (pinned !== undefined && !bytesEqual(pinned, hubPublicKey)) {
      throw new HubKeyChangedError(
        `this device knows hub key ${toHex(pinned).slice(0, 16)}…, the hub now presents ${settings.hubPublicKey.slice(0, 16)}…`,
      );
    }
    if (pinned === undefined) await store.put(HUB_KEY, hubPublicKey);
    let auth = signIn.auth;
    // The token is needed once, to bind the device; a bound device's key is its credential.
    const helloAuth = () => auth;
    const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
    const client = await KalandraClient.open({
      connection: offline,
      clock: systemClock,
      rng: systemRng,
      timers: systemTimers(),
      store,
      hubPublicKey,
      cs: getKalandraCiphersuiteImpl(systemRng),
      userId: signIn.userId,
      keyPackageTarget: 4,
      requestPolicy: { retryMs: 1000, maxAttempts: 120 },
      auth: helloAuth,
    });
    const conn = await connectWebSocket({
      url,
      deviceSigner: client.signer,
      userId: client.userId,
      hubPublicKey,
      client: "kalandra-web",
      auth: helloAuth,
      backoff: { initialMs: 200, maxMs: 3000 },
    });
    conn.onStateChange(onState);
    conn.onReconnect(() => void client.connect().catch(() => undefined));
    await client.reconnect(conn);
    auth = undefined;
    onState(conn.state);
    return {
      client,
      conn,
      store,
      close() {
        client.close();
        conn.close();
        store.close();
      },
    };
  } catch (e) {
    store.close();
    throw e;
  }
}
