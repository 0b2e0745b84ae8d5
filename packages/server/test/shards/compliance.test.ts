/**
 * One compliance suite for every shard runtime (CONVENTIONS 6): in-process with one and
 * with three shards over the in-memory storage, and worker threads over LMDB. Everything
 * is observed through the hub core's answers, as a client would.
 */
import { decodePayload, Opcode } from "@kalandra/proto";
import { pollUntil, type TempDir, tempDir } from "@kalandra/test-support";
import { encodeMlsMessage } from "ts-mls";
import { afterAll, describe, expect, it } from "vitest";
import { BanList } from "../../src/moderation/bans.js";
import { FRESH_CURSOR } from "../../src/moderation/retention.js";
import { shardRoomData, syncBans } from "../../src/moderation/roomData.js";
import { WorkerShards } from "../../src/runtime/node/shards/workerShards.js";
import { shardOf } from "../../src/shards/shardOf.js";
import {
  type Env,
  errorName,
  frameOf,
  HUB_SEED,
  makeClient,
  makeEnv,
  openHub,
  send,
} from "../hub/harness.js";
import { commit } from "../mls/mlsClients.js";
import { appMessage, proposeCarolsRemoval, roomWith } from "../sequencer/room.js";

const dirs: TempDir[] = [];
afterAll(() => {
  for (const d of dirs) d.cleanup();
});

interface Runtime {
  name: string;
  make(): Promise<Env>;
  /** Lets `ms` of hub time pass (manual clock in process, real time in workers). */
  tick(env: Env, ms: number): Promise<void>;
}

const runtimes: Runtime[] = [
  {
    name: "in-process, 1 shard",
    make: () => makeEnv({ limits: { shards: 1, commitDelayMs: 20 } }),
    tick: async (env, ms) => env.time.advance(ms),
  },
  {
    name: "in-process, 3 shards",
    make: () => makeEnv({ limits: { shards: 3, commitDelayMs: 20 } }),
    tick: async (env, ms) => env.time.advance(ms),
  },
  {
    name: "worker threads, 2 shards (LMDB)",
    make: () => {
      const tmp = tempDir("shards");
      dirs.push(tmp);
      const dir = tmp.path;
      return makeEnv({
        limits: { commitDelayMs: 20 },
        shards: (env) =>
          WorkerShards.start({
            count: 2,
            hubSeed: HUB_SEED,
            sink: env.sink,
            setupOptions: { path: dir, hubKey: env.hubMls.publicKey, noSync: true },
            limits: { commitDelayMs: 20, commitDeadlineMs: 200 },
          }),
      });
    },
    tick: (_env, ms) => new Promise((r) => setTimeout(r, ms * 3)),
  },
];

const ROOMS = [11n, 12n, 13n, 14n];

for (const rt of runtimes) {
  describe(`shard runtime: ${rt.name}`, () => {
    it("sequences each room on its own shard, without gaps, and fans out", async () => {
      const env = await rt.make();
      try {
        const first = await roomWith(["alice", "bob"], { env, roomId: ROOMS[0]! });
        const [alice, bob] = first.members as [
          NonNullable<(typeof first.members)[0]>,
          NonNullable<(typeof first.members)[0]>,
        ];
        for (const roomId of ROOMS.slice(1))
          await roomWith([], { env, roomId, members: [alice, bob] });
        if (rt.name.includes("3 shards")) {
          expect(new Set(ROOMS.map((r) => shardOf(r, 3))).size).toBeGreaterThan(1);
        }
        for (const roomId of ROOMS) {
          const acks = [];
          for (let i = 0; i < 3; i++)
            acks.push(await send(env, bob, appMessage(bob, roomId, 1n, `m${i}`)));
          expect(acks.map((a) => a.frame.header.logIndex)).toEqual([2n, 3n, 4n]);
        }
        const toAlice = env.out.filter(
          (s) =>
            s.target.kind === "members" &&
            s.target.senderIds.includes(alice.senderId) &&
            s.frame.header.opcode === Opcode.APP_MESSAGE,
        );
        expect(toAlice).toHaveLength(ROOMS.length * 3);
        expect(errorName(await send(env, bob, appMessage(bob, 99n, 0n)))).toBe("UNKNOWN_ROOM");
        expect(errorName(await send(env, bob, appMessage(bob, ROOMS[1]!, 0n)))).toBe("STALE_EPOCH");
      } finally {
        await env.hub.close();
      }
    }, 60_000);

    it("serves a page of a room's log to replicas from the shard that owns it (federation)", async () => {
      const env = await rt.make();
      try {
        const { members, roomId } = await roomWith(["alice", "bob"], { env, roomId: ROOMS[3]! });
        await send(env, members[1]!, appMessage(members[1]!, roomId, 1n, "replicated"));
        const page = await env.hub.roomPage(roomId, 1n, 10);
        expect(page?.head).toBe(3n);
        expect(page?.entries.map((e) => e.payload !== null)).toEqual([true, true]);
        expect(await env.hub.roomPage(99n, 0n, 10)).toBeUndefined();
      } finally {
        await env.hub.close();
      }
    }, 60_000);

    it("restores every room after a restart, with idempotent answers", async () => {
      const env = await rt.make();
      const { members } = await roomWith(["alice", "bob"], { env, roomId: ROOMS[2]! });
      const bob = members[1]!;
      const msg = appMessage(bob, ROOMS[2]!, 1n, "kept", 777);
      const first = await send(env, bob, msg);
      await env.hub.close();
      env.out.length = 0;
      await openHub(env);
      try {
        for (const m of members) env.hub.attachSession(m.sessionId, m.signer.publicKey, m.name);
        const again = await send(env, bob, msg);
        expect(Buffer.from(again.bytes).equals(Buffer.from(first.bytes))).toBe(true);
        const next = await send(env, bob, appMessage(bob, ROOMS[2]!, 1n, "after"));
        expect(next.frame.header.logIndex).toBe(first.frame.header.logIndex + 1n);
        const page = await send(
          env,
          bob,
          frameOf(bob, Opcode.SYNC_REQUEST, ROOMS[2]!, 1n, { from: 0n, limit: 10 }),
        );
        const p = decodePayload(Opcode.SYNC_PAGE, page.frame.payload);
        expect(p.head).toBe(4n);
        expect(p.entries.map((e) => e.payload !== null)).toEqual([true, true, true, true]);
        // Erasure goes to the shard that owns the room's storage; the header stays.
        expect(await env.hub.secureDelete(ROOMS[2]!, 2n)).toEqual({ ok: true, logIndex: 2n });
        const again2 = await env.hub.secureDelete(ROOMS[2]!, 2n);
        expect(again2.ok ? "" : again2.refusal.code).toBe("NOT_FOUND");
        const page2 = await send(
          env,
          bob,
          frameOf(bob, Opcode.SYNC_REQUEST, ROOMS[2]!, 1n, { from: 2n, limit: 1 }),
        );
        const q = decodePayload(Opcode.SYNC_PAGE, page2.frame.payload);
        expect(q.entries[0]!.payload).toBeNull();
        expect(q.entries[0]!.header).toHaveLength(128);
      } finally {
        await env.hub.close();
      }
    }, 60_000);

    it("refuses a commit adding a user once the ban list reached the shard; answers room reads", async () => {
      const env = await rt.make();
      try {
        const { members, roomId } = await roomWith(["alice", "bob"], { env, roomId: ROOMS[1]! });
        const alice = members[0]!;
        const eve = await makeClient(env, "eve");
        const addEve = async () => {
          const c = await commit(env.cs, alice.state!, [
            { proposalType: "add", add: { keyPackage: eve.device.publicPackage } },
          ]);
          const a = await send(
            env,
            alice,
            frameOf(alice, Opcode.COMMIT, roomId, 1n, {
              commit: c.commit,
              group_info: c.groupInfo,
              welcome: encodeMlsMessage(c.welcome!),
              welcome_recipients: [eve.senderId],
            }),
          );
          return { a, c };
        };
        const bans = new BanList();
        syncBans(env.hub.shards, bans);
        bans.add({ userId: "eve", scope: "room", roomId });
        expect(errorName((await addEve()).a)).toBe("BANNED");
        bans.remove({ userId: "eve", scope: "room", roomId });
        const { a } = await addEve();
        expect(a.opcode).toBe(Opcode.ACK);

        // Moderation's reads, answered by the shard that owns the room.
        const rooms = shardRoomData(env.hub.shards);
        expect(await rooms.listRooms()).toEqual([roomId]);
        expect(await rooms.hasRoom(roomId)).toBe(true);
        expect(await rooms.hasRoom(98n)).toBe(false);
        const e = await rooms.entry(roomId, 1n);
        expect(e?.erased).toBe(false);
        expect(e?.header).toHaveLength(128);
        expect(await rooms.entry(roomId, 50n)).toBeUndefined();
        const sent = await rooms.userIndex("alice");
        expect(sent.length).toBeGreaterThan(0);
        expect(sent.every((x) => x.roomId === roomId)).toBe(true);
        const plan = await rooms.planSweep(
          roomId,
          { maxAgeMs: 0, maxCount: 0 },
          0n,
          FRESH_CURSOR,
          10,
        );
        expect(plan.erase).toEqual([]);
        expect(plan.next.scanned).toBe(3n);
      } finally {
        await env.hub.close();
      }
    }, 60_000);

    it("asks a live member to commit pending proposals", async () => {
      const env = await rt.make();
      try {
        const room = await roomWith(["alice", "bob", "carol"], { env, roomId: ROOMS[3]! });
        expect((await proposeCarolsRemoval(room)).answer.opcode).toBe(Opcode.ACK);
        const requests = () =>
          env.out.filter((s) => s.frame.header.opcode === Opcode.COMMIT_REQUEST);
        const clock = { advance: (ms: number) => rt.tick(env, ms) };
        await pollUntil(() => requests().length > 0, clock, "a COMMIT_REQUEST to a member", {
          stepMs: 25,
          maxMs: 500,
        });
        const target = requests()[0]!.target;
        expect(target.kind).toBe("device");
      } finally {
        await env.hub.close();
      }
    }, 60_000);
  });
}
