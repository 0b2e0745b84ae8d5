/**
 * Real client cores (@kalandra/client: MLS, key-package stock, Welcome handling) connected
 * to the security suite's kalandrad over WebSocket, for the attacks whose victim is a
 * well-behaved user (key-package drains, offline invitees).
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
import { afterAll, beforeAll } from "vitest";
import { RawSession, type SecurityHub, startHub } from "./hub.js";

export interface RealUser {
  client: KalandraClient;
  /** Opens a new WebSocket session and resumes on it (first connect or reconnect). */
  online(): Promise<void>;
  /** Drops the session: the hub sees the device go away. */
  offline(): void;
  close(): void;
}

export async function realUser(hub: SecurityHub, id: string): Promise<RealUser> {
  const offlineConn = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  const client = await KalandraClient.open({
    connection: offlineConn,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey: hub.hubKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId: id,
    keyPackageTarget: 3,
    requestPolicy: { retryMs: 300, maxAttempts: 100 },
  });
  let conn: WebSocketConnection | undefined;
  return {
    client,
    async online() {
      conn = await connectWebSocket({
        url: hub.websocket,
        deviceSigner: client.signer,
        userId: id,
        hubPublicKey: hub.hubKey,
      });
      await client.reconnect(conn);
    },
    offline() {
      client.disconnect();
      conn?.close();
      conn = undefined;
    },
    close() {
      client.close();
      conn?.close();
    },
  };
}

/** Waits until every user's view of the room is synchronized at `epoch`. */
export function inEpoch(users: RealUser[], room: bigint, epoch: bigint): Promise<void> {
  return waitUntil(
    () =>
      users.every(
        (u) =>
          u.client.room(room)?.phase.kind === "synchronized" &&
          u.client.room(room)?.epoch === epoch,
      ),
    `epoch ${epoch} everywhere`,
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

/**
 * One kalandrad for the test file, a bystander session on it, and the real users the tests
 * open (closed after the file): `hub()`, `bystander()`, `user(id)`.
 */
export function hubWithUsers(): {
  hub: () => SecurityHub;
  bystander: () => RawSession;
  user: (id: string) => Promise<RealUser>;
} {
  let hub: SecurityHub | undefined;
  let bystander: RawSession | undefined;
  const users: RealUser[] = [];
  beforeAll(async () => {
    hub = await startHub();
    bystander = await RawSession.open(hub, "bystander");
  });
  afterAll(async () => {
    for (const u of users) u.close();
    bystander?.close();
    await hub?.stop();
  });
  const must = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("the hub is not started");
    return v;
  };
  return {
    hub: () => must(hub),
    bystander: () => must(bystander),
    async user(id) {
      const u = await realUser(must(hub), id);
      users.push(u);
      return u;
    },
  };
}
