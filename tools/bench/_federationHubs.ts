/**
 * The federating kalandrad processes of `pnpm bench federation` (federation.ts): hub specs
 * (data directory, hub key, WebSocket port), every hub peered with the others, client
 * cores that record what they decrypt and when their sends are acknowledged, rooms across
 * hubs, admin calls and metrics.
 */
import { join } from "node:path";
import { connectWebSocket } from "@kalandra/client";
import { freePort, type TempDir, tempDir, writeHubKey } from "@kalandra/test-support";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { benchClient } from "./_benchEnv.js";

export const ADMIN_TOKEN = "bench-federation";

export interface Spec {
  domain: string;
  dir: TempDir;
  keyPath: string;
  hubKey: string;
  wsPort: number;
}

export async function spec(domain: string): Promise<Spec> {
  const dir = tempDir(`bench-fed-${domain}`);
  const keyPath = join(dir.path, "hub-key.pem");
  return { domain, dir, keyPath, hubKey: writeHubKey(keyPath), wsPort: await freePort() };
}

/** Starts (or restarts) `s`'s hub peered with every one of `peers`; `env`: more settings. */
export function start(
  s: Spec,
  peers: Spec[],
  env: Record<string, string> = {},
): Promise<SpawnedHub> {
  return spawnHub(join(s.dir.path, "data"), {
    KALANDRA_SERVER__LOG_LEVEL: "info", // startKalandrad reads the "kalandrad ready" line
    KALANDRA_SERVER__DOMAIN: s.domain,
    KALANDRA_SERVER__HUB_KEY: s.keyPath,
    KALANDRA_SERVER__WEBSOCKET_LISTEN: `127.0.0.1:${s.wsPort}`,
    KALANDRA_SERVER__SHARDS: "1",
    // The transfer reads the room from the hub's own storage: shards in-process share it.
    KALANDRA_SERVER__SHARD_RUNTIME: "in-process",
    KALANDRA_MONITORING__ADMIN_TOKEN: ADMIN_TOKEN,
    KALANDRA_DATABASE__SYNC: "full",
    KALANDRA_FEDERATION__ENABLED: "true",
    KALANDRA_FEDERATION__RECONNECT_MIN_MS: "100",
    KALANDRA_FEDERATION__RECONNECT_MAX_MS: "1000",
    // A room's authority that went silent is replaced after a second (failover rounds).
    KALANDRA_FEDERATION__FAILOVER_AFTER_MS: "1000",
    KALANDRA_FEDERATION__PEERS: JSON.stringify(
      peers
        .filter((p) => p.domain !== s.domain)
        .map((p) => ({
          domain: p.domain,
          url: `ws://127.0.0.1:${p.wsPort}/kalandra`,
          hub_key: p.hubKey,
        })),
    ),
    ...env,
  });
}

export async function metric(hub: SpawnedHub, line: RegExp): Promise<number | undefined> {
  const text = await (
    await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
  ).text();
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? undefined : Number(m.split(" ").at(-1));
}

/** Polls `hub`'s link state to `peer` (every 5 ms, bounded); resolves with ms waited. */
export async function linkUp(hub: SpawnedHub, peer: string, timeoutMs = 30_000): Promise<number> {
  const t0 = performance.now();
  const up = new RegExp(
    `^kalandra_federation_link_up\\{peer="${peer.replaceAll(".", "\\.")}"\\} 1$`,
  );
  while (performance.now() - t0 < timeoutMs) {
    if ((await metric(hub, up)) === 1) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`link to ${peer} not up within ${timeoutMs} ms`);
}

/** A client core of `userId` connected to `hub` over WebSocket, counting the messages it decrypts. */
export async function member(userId: string, hub: SpawnedHub) {
  const client = await benchClient(hub.hubKey, userId, {
    keyPackageTarget: 3,
    requestPolicy: { retryMs: 300, maxAttempts: 200, routingRetries: 100 },
  });
  const conn = await connectWebSocket({
    url: hub.websocket,
    deviceSigner: client.signer,
    userId,
    hubPublicKey: hub.hubKey,
  });
  const arrived = new Map<string, number>();
  /** Acknowledgements of sends through `send`: arrival time, log index. */
  const acks: { at: number; index: bigint }[] = [];
  const td = new TextDecoder();
  client.on((e) => {
    if (e.type === "message") arrived.set(td.decode(e.plaintext), performance.now());
  });
  await client.reconnect(conn);
  const close = () => {
    client.close();
    conn.close();
  };
  const send = async (room: bigint, body: string) => {
    const index = await client.send(room, new TextEncoder().encode(body));
    acks.push({ at: performance.now(), index });
  };
  return { client, arrived, acks, send, close };
}

export type Member = Awaited<ReturnType<typeof member>>;

/** `userId`'s room with `others` added, once each of them processed its Welcome. */
export async function roomWith(
  creator: Member,
  others: { m: Member; id: string }[],
): Promise<bigint> {
  const room = await creator.client.createRoom();
  const welcomed = others.map((o) => o.m.client.expectWelcome(room));
  await creator.client.addMembers(
    room,
    others.map((o) => o.id),
  );
  await Promise.all(welcomed);
  const joinedBy = performance.now() + 30_000;
  // Epoch 1 is the Add; the authority's enlisting of the members' hubs (docs/federation.md
  // "Kicks across hubs") may have moved the room on already.
  while (others.some((o) => (o.m.client.room(room)?.epoch ?? 0n) < 1n)) {
    if (performance.now() > joinedBy) throw new Error("a member did not join in 30 s");
    await new Promise((res) => setTimeout(res, 5));
  }
  return room;
}

export async function admin(hub: SpawnedHub, path: string, body: unknown) {
  const r = await fetch(`http://127.0.0.1:${hub.monitoringPort}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-kalandra-operator": "bench" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}
