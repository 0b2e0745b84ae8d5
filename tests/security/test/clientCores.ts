/**
 * Real client cores (@kalandra/client: MLS, sender keys) over WebSocket to the security
 * suite's kalandrad, for the tests that need real MLS groups; and a RawSession that speaks
 * as such a client's device (same key, so the hub takes it for that member).
 */
import {
  connectWebSocket,
  getKalandraCiphersuiteImpl,
  type HelloAuthProvider,
  KalandraClient,
  MemoryStore,
  type WebSocketConnection,
} from "@kalandra/client";
import { type DeviceKey, systemClock, systemRng, systemTimers } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { RawSession, type SecurityHub } from "./hub.js";

export interface User {
  client: KalandraClient;
  conn: WebSocketConnection;
  /** Decrypted application messages, in order. */
  texts: string[];
  /** Connects again over a fresh WebSocket (after `conn.close()`). */
  reconnect(): Promise<void>;
}

/**
 * A client core for `id`, connected and authenticated over the hub's WebSocket listener;
 * `auth` is what its HELLO presents (an enrollment code, DESIGN §10), none in dev mode.
 */
export async function openUser(
  hub: SecurityHub,
  id: string,
  o: { auth?: HelloAuthProvider } = {},
): Promise<User> {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: hub.hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId: id,
    keyPackageTarget: 2,
    requestPolicy: { retryMs: 300, maxAttempts: 100 },
  });
  const connect = () =>
    connectWebSocket({
      url: hub.websocket,
      deviceSigner: client.signer,
      userId: id,
      hubPublicKey: hub.hubKey,
      ...(o.auth === undefined ? {} : { auth: o.auth }),
    });
  const texts: string[] = [];
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") texts.push(td.decode(e.plaintext));
  });
  const user: User = {
    client,
    conn: await connect(),
    texts,
    async reconnect() {
      user.conn = await connect();
      await client.reconnect(user.conn);
    },
  };
  await client.reconnect(user.conn);
  return user;
}

export function closeUser(u: User | undefined): void {
  u?.client.close();
  u?.conn.close();
}

/** A raw session authenticated as `u`'s device: frames the hub takes as that member's. */
export function rawAs(hub: SecurityHub, u: User): Promise<RawSession> {
  const key: DeviceKey = {
    seed: new Uint8Array(32), // not used: the signer signs
    publicKey: u.client.signer.publicKey,
    signer: u.client.signer,
    senderId: u.client.senderId,
  };
  return RawSession.open(hub, u.client.userId, { key });
}

/** Waits until every user is synchronized at `epoch` in `room`. */
export function untilEpoch(users: User[], room: bigint, epoch: bigint): Promise<void> {
  return waitUntil(
    () =>
      users.every(
        (u) =>
          u.client.room(room)?.phase.kind === "synchronized" &&
          u.client.room(room)?.epoch === epoch,
      ),
    `epoch ${epoch} everywhere`,
    { timeoutMs: 30_000, intervalMs: 20 },
  );
}

export const enc = (s: string) => new TextEncoder().encode(s);
