/**
 * Daemon (in this process) with each shard runtime: rooms are counted where they live, a
 * retention sweep and the user index go through the shards owning the rooms
 * (`kalandra_rooms` after a restart comes from the worker shards' storages), the
 * `kalandra_shards{runtime}` gauge, and the in-process runtime (`server.shard_runtime =
 * "in-process"`) still enforcing bans in its sequencers through the same wiring.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Opcode } from "@kalandra/proto";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import { createRoom, groupInfoBytes, suite } from "../mls/mlsClients.js";
import { errorName } from "./helpers.js";
import { WireMember } from "./mlsWire.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(dir: string, server: Record<string, unknown>) {
  const r = buildConfig({
    server: {
      listen: "127.0.0.1:0",
      websocket_listen: "127.0.0.1:0",
      log_level: "fatal",
      ...server,
    },
    monitoring: { listen: "127.0.0.1:0" },
    database: { path: dir, sync: "none" },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

async function metric(d: Daemon, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${d.monitoringPort}/metrics`)).text();
  return text.split("\n").find((l) => line.test(l));
}

/** Alice creates `roomId` and adds Bob (epoch 1); returns Alice's group state. */
async function room(
  cs: Awaited<ReturnType<typeof suite>>,
  d: Daemon,
  alice: WireMember,
  bob: WireMember,
  roomId: bigint,
) {
  const hub = { publicKey: d.hubPublicKey, signKey: new Uint8Array(32) };
  const state = await createRoom(cs, hub, alice.device, roomId);
  const created = await alice.request(
    alice.frame(Opcode.ROOM_CREATE, roomId, 0n, { group_info: await groupInfoBytes(cs, state) }),
  );
  expect(readHeader(created).opcode).toBe(Opcode.ACK);
  const added = await alice.add(cs, state, roomId, 0n, bob);
  expect(readHeader(added.response).opcode).toBe(Opcode.ACK);
  return added.made.state;
}

describe("Daemon shard runtimes", () => {
  it("worker shards: rooms are counted from the shards' storages after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kalandra-rt-worker-"));
    dirs.push(dir);
    const cs = await suite();
    const alice = await WireMember.create(cs, "alice");
    const bob = await WireMember.create(cs, "bob");
    const log = createLogger("fatal");
    const a = await Daemon.start({ config: config(dir, { shards: 2 }), log });
    try {
      expect(await metric(a, /^kalandra_shards\{/)).toBe('kalandra_shards{runtime="worker"} 2');
      await alice.connect(a.port, a.certHash);
      // Bob's device authenticates once, so the hub has bound it to bob (DESIGN §10).
      await bob.connect(a.port, a.certHash);
      await room(cs, a, alice, bob, 501n);
      await room(cs, a, alice, bob, 502n);
      expect(await metric(a, /^kalandra_rooms /)).toBe("kalandra_rooms 2");
      // Retention through the shard owning the room: plan, erase there, REDACTION notices.
      for (let i = 0; i < 3; i++) {
        const ack = await alice.request(
          alice.frame(Opcode.APP_MESSAGE, 501n, 1n, {
            generation: i,
            ciphertext: new Uint8Array(8),
          }),
        );
        expect(readHeader(ack).logIndex).toBe(BigInt(2 + i));
      }
      const mod = a.moderation!;
      expect((await mod.setRetention(501n, { maxAgeMs: 0, maxCount: 1 }, "admin:test")).ok).toBe(
        true,
      );
      expect((await mod.setRetention(999n, { maxAgeMs: 0, maxCount: 1 }, "admin:test")).ok).toBe(
        false,
      );
      expect(await mod.sweep()).toEqual({ rooms: 1, erased: 2, failed: 0 });
      // The user index of every shard, merged (501 and 502 are on shards 0 and 1).
      const sent = await mod.userMessages("alice");
      expect(new Set(sent.map((x) => x.roomId))).toEqual(new Set([501n, 502n]));
      alice.conn.close();
    } finally {
      await a.shutdown("test");
    }
    const b = await Daemon.start({ config: config(dir, { shards: 0 }), log });
    try {
      expect(await metric(b, /^kalandra_rooms /)).toBe("kalandra_rooms 2");
      expect(await metric(b, /^kalandra_shards\{/)).toBe('kalandra_shards{runtime="worker"} 2');
    } finally {
      await b.shutdown("test");
    }
  }, 90_000);

  it("in-process shards: the same wiring, bans enforced by the room's sequencer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kalandra-rt-inprocess-"));
    dirs.push(dir);
    const cs = await suite();
    const alice = await WireMember.create(cs, "alice");
    const bob = await WireMember.create(cs, "bob");
    const eve = await WireMember.create(cs, "eve");
    const d = await Daemon.start({
      config: config(dir, { shard_runtime: "in-process", shards: 3 }),
      log: createLogger("fatal"),
    });
    try {
      expect(await metric(d, /^kalandra_shards\{/)).toBe('kalandra_shards{runtime="in-process"} 3');
      await alice.connect(d.port, d.certHash);
      await bob.connect(d.port, d.certHash);
      await eve.connect(d.port, d.certHash);
      const state = await room(cs, d, alice, bob, 601n);
      const banned = await d.moderation?.ban("eve", "room", 601n, "test", "admin:test");
      expect(banned?.ok).toBe(true);
      const refused = await alice.add(cs, state, 601n, 1n, eve);
      expect(errorName(refused.response)).toBe("BANNED");
      expect(await d.moderation?.userMessages("alice")).toEqual([
        { roomId: 601n, logIndex: 0n },
        { roomId: 601n, logIndex: 1n },
      ]);
      alice.conn.close();
    } finally {
      await d.shutdown("test");
    }
  }, 90_000);
});
