/**
 * Issue 16: a backup taken under load. kalandrad (worker shards) serves a room whose members
 * keep sending; `kalandrad backup create` runs as a separate process beside it, opening the
 * LMDB environments read-only. Every frame acknowledged before the backup started must be
 * in the restored directory, byte for byte as the hub stored it; `backup verify --key`
 * opens every payload; the restored directory starts as a hub.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  connectWebTransport,
  type KalandraClient,
  type WebTransportConnection,
} from "@kalandra/client";
import { type LmdbStorage, openLmdbStorage } from "@kalandra/server";
import { freePort, tempDir, waitUntil } from "@kalandra/test-support";
import { afterAll, expect, it } from "vitest";
import { type Hub, openClient, startHub, stopHub } from "./kalandrad.js";

const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);
const tmp = tempDir("e2e-backup");
const data = join(tmp.path, "data");
const key = join(tmp.path, "backup.key");
const open: { client: KalandraClient; conn: WebTransportConnection }[] = [];
let hub: Hub | undefined;

afterAll(async () => {
  for (const u of open) {
    u.client.close();
    u.conn.close();
  }
  await stopHub(hub);
  tmp.cleanup();
});

/** Runs `kalandrad ARGS`; resolves with its exit code and output. */
function kalandrad(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out }));
  });
}

async function user(id: string, port: number, h: Hub): Promise<KalandraClient> {
  const client = await openClient(id, h.hubKey);
  const conn = await connectWebTransport({
    url: `https://127.0.0.1:${port}/kalandra`,
    certHash: h.certHash,
    deviceSigner: client.signer,
    userId: id,
    hubPublicKey: h.hubKey,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  await client.reconnect(conn);
  open.push({ client, conn });
  return client;
}

/** The storages of a data directory's worker shards (the hub must be stopped). */
async function shardStorages(dir: string, shards: number): Promise<LmdbStorage[]> {
  const out: LmdbStorage[] = [];
  for (let i = 0; i < shards; i++)
    out.push(await openLmdbStorage({ path: join(dir, `shard-${i}`) }));
  return out;
}

it("a backup under load holds every frame acknowledged before it started", {
  timeout: 180_000,
}, async () => {
  const port = await freePort();
  hub = await startHub(data, port, 0, { KALANDRA_SERVER__SHARDS: "2" });
  const hubKey = Buffer.from(hub.hubKey).toString("hex");
  const alice = await user("alice", port, hub);
  const bob = await user("bob", port, hub);
  const room = await alice.createRoom();
  await bob.expectWelcome(room);
  await alice.addMembers(room, ["bob"]);
  await waitUntil(() => bob.room(room)?.epoch === 1n && alice.room(room)?.epoch === 1n, "epoch 1", {
    timeoutMs: 30_000,
    intervalMs: 20,
  });

  // Two senders, each with one message in flight at a time, until told to stop (bounded).
  const acked: bigint[] = [];
  let stop = false;
  const sender = async (c: KalandraClient, tag: string) => {
    for (let i = 0; i < 3000 && !stop; i++)
      acked.push(await c.send(room, new TextEncoder().encode(`${tag}-${i}`)));
  };
  const load = Promise.all([sender(alice, "a"), sender(bob, "b")]);
  await waitUntil(() => acked.length >= 40, "40 messages acknowledged", {
    timeoutMs: 60_000,
    intervalMs: 10,
  });

  const before = [...acked];
  const out = join(tmp.path, "backups", "b1");
  const made = await kalandrad(["backup", "create", out, "--data", data, "--key", key]);
  const duringBackup = acked.length - before.length;
  stop = true;
  await load;
  expect(made.code, made.out).toBe(0);
  expect(made.out).toMatch(/backup [0-9a-f]{32} written to/);
  expect(duringBackup, "writes continued while the backup ran").toBeGreaterThan(0);

  const verified = await kalandrad(["backup", "verify", out, "--key", key]);
  expect(verified.code, verified.out).toBe(0);
  expect(verified.out).toMatch(/payloads opened with their keys/);

  const restored = join(tmp.path, "restored");
  const r = await kalandrad(["restore", out, "--data", restored, "--key", key]);
  expect(r.code, r.out).toBe(0);
  for (const u of open.splice(0)) {
    u.client.close();
    u.conn.close();
  }
  await stopHub(hub);
  hub = undefined;

  const originals = await shardStorages(data, 2);
  const copies = await shardStorages(restored, 2);
  try {
    const shard = originals.findIndex((s) => s.listRooms().includes(room));
    const original = originals[shard] as LmdbStorage;
    const copy = copies[shard] as LmdbStorage;
    for (const index of before) {
      const [a] = original.readRange(room, index, 1);
      const [b] = copy.readRange(room, index, 1);
      expect(b?.header, `frame ${index}`).toEqual(a?.header);
      expect(b?.payload, `frame ${index}`).toEqual(a?.payload);
      expect(b?.payload).not.toBeNull();
    }
  } finally {
    for (const s of [...originals, ...copies]) await s.close();
  }

  // The restored directory is a data directory the hub starts on, with the same hub key.
  const again = await startHub(restored, await freePort(), 0, { KALANDRA_SERVER__SHARDS: "2" });
  try {
    expect(Buffer.from(again.hubKey).toString("hex")).toBe(hubKey);
  } finally {
    await stopHub(again);
  }
});
