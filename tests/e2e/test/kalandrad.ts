/**
 * kalandrad as a child process for the end-to-end suites (the real hub core and LMDB), and
 * a client core set up for them. `E2E_HUB_LOG=/tmp/hub.log` keeps the hub's debug log.
 */
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  connectWebSocket,
  connectWebTransport,
  getKalandraCiphersuiteImpl,
  KalandraClient,
  type KalandraClientOptions,
  MemoryStore,
  type WebSocketConnection,
} from "@kalandra/client";
import { systemClock, systemRng, systemTimers } from "@kalandra/proto";
import {
  freePort,
  type Kalandrad,
  startKalandrad,
  tempDir,
  waitUntil,
} from "@kalandra/test-support";
import { afterAll, beforeAll } from "vitest";

// The server package's `kalandrad` bin (package.json "bin"), found through the workspace link.
export const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);

export type Hub = Kalandrad;

/**
 * Starts kalandrad on loopback (`wsPort` 0 = the OS picks) over `dataDir`; resolves once
 * ready. `env` sets more KALANDRA_* keys.
 */
export function startHub(
  dataDir: string,
  port: number,
  wsPort = 0,
  env: Record<string, string> = {},
): Promise<Hub> {
  const log = process.env.E2E_HUB_LOG;
  return startKalandrad({
    bin: BIN,
    dataDir,
    listen: `127.0.0.1:${port}`,
    websocketListen: `127.0.0.1:${wsPort}`,
    monitoringListen: "",
    env: { KALANDRA_SERVER__LOG_LEVEL: log ? "debug" : "info", ...env },
    ...(log ? { onStdout: (d: string) => appendFileSync(log, d) } : {}),
  });
}

/** Stops the hub with SIGTERM (when it still runs) and waits for it to exit. */
export async function stopHub(hub: Hub | undefined): Promise<void> {
  if (hub !== undefined && hub.child.exitCode === null && hub.child.signalCode === null) {
    hub.child.kill("SIGTERM");
    await hub.exit;
  }
}

/** A client core for user `id`, not yet connected (`client.reconnect(conn)` connects it). */
export function openClient(
  id: string,
  hubPublicKey: Uint8Array,
  extra: Partial<KalandraClientOptions> = {},
): Promise<KalandraClient> {
  const offline = { send: () => undefined, onFrame: () => undefined, close: () => undefined };
  return KalandraClient.open({
    connection: offline,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    store: new MemoryStore(),
    hubPublicKey,
    cs: getKalandraCiphersuiteImpl(systemRng),
    userId: id,
    keyPackageTarget: 3,
    requestPolicy: { retryMs: 300, maxAttempts: 200 },
    ...extra,
  });
}

export type Transport = "websocket" | "webtransport";

/** A client core and its connection (the same kind of object on both transports). */
export interface Connected {
  client: KalandraClient;
  conn: WebSocketConnection;
}

/**
 * A client core for `id` connected to `hub` over `transport` and authenticated; `opened`
 * collects it for `closeAll`.
 */
export async function connectUser(
  hub: Hub,
  id: string,
  transport: Transport,
  opened: Connected[],
  extra: Partial<KalandraClientOptions> = {},
): Promise<Connected> {
  const client = await openClient(id, hub.hubKey, extra);
  const common = { deviceSigner: client.signer, userId: id, hubPublicKey: hub.hubKey };
  const conn =
    transport === "websocket"
      ? await connectWebSocket({ url: hub.websocket, ...common })
      : await connectWebTransport({
          url: `https://127.0.0.1:${hub.port}/kalandra`,
          certHash: hub.certHash,
          ...common,
        });
  opened.push({ client, conn });
  return { client, conn };
}

/** Closes every client and connection `connectUser` opened. */
export function closeAll(opened: Connected[]): void {
  for (const u of opened.splice(0)) {
    u.client.close();
    u.conn.close();
  }
}

/**
 * One hub for a test file's tests: started before them over a temp directory, stopped
 * after them with every user `connect` opened closed; `until` waits on real time.
 */
export function hubForFile(label: string): {
  readonly hub: Hub;
  connect(
    id: string,
    transport: Transport,
    extra?: Partial<KalandraClientOptions>,
  ): Promise<Connected>;
  until(pred: () => boolean, what: string): Promise<void>;
  roomOf(creator: KalandraClient, others: readonly { client: KalandraClient }[]): Promise<bigint>;
} {
  const data = tempDir(label);
  const opened: Connected[] = [];
  let hub: Hub | undefined;
  beforeAll(async () => {
    hub = await startHub(data.path, await freePort());
  });
  afterAll(async () => {
    closeAll(opened);
    await stopHub(hub);
    data.cleanup();
  });
  return {
    get hub() {
      if (hub === undefined) throw new Error("the hub starts in beforeAll");
      return hub;
    },
    connect(id, transport, extra) {
      return connectUser(this.hub, id, transport, opened, extra);
    },
    until: (pred, what) => waitUntil(pred, what, { timeoutMs: 20_000, intervalMs: 20 }),
    /** A room `creator` makes and adds the others to, once everyone is synchronized at epoch 1. */
    async roomOf(creator, others) {
      const room = await creator.createRoom();
      for (const o of others) await o.client.expectWelcome(room);
      await creator.addMembers(
        room,
        others.map((o) => o.client.userId),
      );
      const all = [creator, ...others.map((o) => o.client)];
      await this.until(
        () =>
          all.every(
            (c) => c.room(room)?.phase.kind === "synchronized" && c.room(room)?.epoch === 1n,
          ),
        "epoch 1 everywhere",
      );
      return room;
    },
  };
}
