/**
 * `pnpm bench sequencer`: the hub core and room sequencer over the LMDB storage, with real
 * fsyncs (DESIGN §4, §5, §9; issue 3 goals).
 *
 * - msgs_per_s_one_room: APP_MESSAGEs per second through HubCore.handleFrame into one room
 *   of 100 real MLS members: membership and epoch checks, HLC + log index, hub-signed ACK,
 *   group-committed append (persisted, fsynced), then fan-out to the 99 other members
 *   (the sink enqueues one delivery per member). Frame signatures are verified by the
 *   transport session (runtime/node/session.ts), so the hub core's own check is off here;
 *   msgs_per_s_one_room_verified has it on (one Ed25519 verify per frame in the same thread).
 * - baseline_unbatched_msgs_per_s: the same pipeline with one `storage.append` per frame
 *   (maxBatch 1): what group commit buys.
 * - msgs_per_s_all_shards: worker-thread shards (one per core), two rooms per shard, each
 *   shard with its own LMDB directory; the hub thread routes and fans out.
 * - secure_delete_ms_p50/p99: `secureDelete` of frames of that room (fsynced).
 * - commit_validate_ms_1000_members: PublicGroup.checkCommit p50 (tools/bench/_commitValidate.ts);
 *   BENCH_QUICK=1 measures 30 members (commit_validate_members says how many).
 *
 * Prints one JSON object on its last line. BENCH_QUICK=1 runs a smoke version in seconds.
 * BENCH_SEQ_MEMORY=1 runs the one-room figures over the in-memory storage (the cores'
 * own cost, without sealing and fsync).
 */

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import {
  createDeviceSigner,
  type DeviceSigner,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  Opcode,
  roomGroupId,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import { HubCore } from "../../packages/server/src/hub/hubCore.js";
import { createHubSigner } from "../../packages/server/src/runtime/node/shards/hubSigner.js";
import { WorkerShards } from "../../packages/server/src/runtime/node/shards/workerShards.js";
import { publicGroupViews } from "../../packages/server/src/sequencer/publicGroupViews.js";
import { shardOf } from "../../packages/server/src/shards/shardOf.js";
import { openLmdbStorage } from "../../packages/server/src/storage/lmdb/lmdbStorage.js";
import { MemoryStorage } from "../../packages/server/src/storage/memoryStorage.js";
import type { Target } from "../../packages/server/src/vocabulary/target.js";
import { benchDir, cleanupBenchDirs } from "./_benchEnv.js";
import { commitValidateMembers, measureCommitValidate } from "./_commitValidate.js";

const quick = process.env.BENCH_QUICK === "1";
const MEMBERS = 100;
const MSGS = quick ? 3_000 : 30_000;
const BASELINE_MSGS = quick ? 200 : 1_500;
const DELETES = quick ? 40 : 400;
const WINDOW = 2_048;
const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
const enc = new TextEncoder();
const tmp = () => benchDir("seq");

interface Member {
  name: string;
  signer: DeviceSigner;
  senderId: bigint;
}

/**
 * 100 members and, per room id, the creator's epoch-0 GroupInfo and the commit adding the
 * others: the hub binds a room's MLS group id to its room id (roomGroupId), so each room
 * gets a group of its own (built once per id, outside the measured loops).
 */
async function buildGroup() {
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  const kps: Awaited<ReturnType<typeof generateKeyPackage>>[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    kps.push(
      await generateKeyPackage(
        { credentialType: "basic", identity: enc.encode(`user-${i}`) },
        defaultCapabilities(),
        defaultLifetime,
        [],
        cs,
      ),
    );
  }
  const members: Member[] = kps.map((kp, i) => {
    const signer = createDeviceSigner(kp.privatePackage.signaturePrivateKey.subarray(-32));
    return { name: `user-${i}`, signer, senderId: deriveSenderId(signer.publicKey) };
  });
  const creator = kps[0]!;
  const rooms = new Map<bigint, Promise<RoomGroup>>();
  const build = async (roomId: bigint): Promise<RoomGroup> => {
    const state = await createGroup(
      roomGroupId(roomId),
      creator.publicPackage,
      creator.privatePackage,
      [],
      cs,
    );
    const gi0 = encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_group_info",
      groupInfo: await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs),
    });
    const c = await createCommit(
      { state, cipherSuite: cs },
      {
        wireAsPublicMessage: true,
        ratchetTreeExtension: true,
        extraProposals: kps.slice(1).map((k) => ({
          proposalType: "add" as const,
          add: { keyPackage: k.publicPackage },
        })),
      },
    );
    const gi1 = encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_group_info",
      groupInfo: await createGroupInfoWithExternalPubAndRatchetTree(c.newState, [], cs),
    });
    return { gi0, commit: encodeMlsMessage(c.commit), gi1 };
  };
  const forRoom = (roomId: bigint): Promise<RoomGroup> => {
    let g = rooms.get(roomId);
    if (g === undefined) {
      g = build(roomId);
      rooms.set(roomId, g);
    }
    return g;
  };
  return { members, forRoom };
}

interface RoomGroup {
  gi0: Uint8Array;
  commit: Uint8Array;
  gi1: Uint8Array;
}

type Group = Awaited<ReturnType<typeof buildGroup>>;

class CountingSink {
  acks = 0;
  errors = 0;
  deliveries = 0;
  readonly sink = (target: Target, frame: Uint8Array) => {
    if (target.kind === "members") {
      for (let i = 0; i < target.senderIds.length; i++) this.deliveries++;
      return;
    }
    const opcode = (frame[6]! << 8) | frame[7]!;
    if (opcode === Opcode.ACK) this.acks++;
    else if (opcode === Opcode.ERROR) this.errors++;
  };
}

let requestSeq = 1;

async function setUpRoom(hub: HubCore, group: Group, roomId: bigint): Promise<void> {
  for (const m of group.members) {
    // Authenticated as a session would (dev mode): the hub binds each device to its user.
    const deviceKey = m.signer.publicKey;
    await hub.authenticate({
      deviceKey,
      senderId: m.senderId,
      claimedUserId: m.name,
      nowSeconds: 0n,
    });
    hub.attachSession(m.name, deviceKey, m.name);
  }
  const g = await group.forRoom(roomId);
  const creator = group.members[0]!;
  const frames = [
    encodeFrame(
      {
        opcode: Opcode.ROOM_CREATE,
        requestId: requestSeq++,
        roomId,
        senderId: creator.senderId,
        epoch: 0n,
        payload: encodePayload(Opcode.ROOM_CREATE, { group_info: g.gi0 }),
      },
      creator.signer,
    ),
    encodeFrame(
      {
        opcode: Opcode.COMMIT,
        requestId: requestSeq++,
        roomId,
        senderId: creator.senderId,
        epoch: 0n,
        payload: encodePayload(Opcode.COMMIT, { commit: g.commit, group_info: g.gi1 }),
      },
      creator.signer,
    ),
  ];
  for (const f of frames) await hub.handleFrame(creator.name, creator.senderId, f);
}

function messages(g: Group, rooms: bigint[], n: number): { m: Member; bytes: Uint8Array }[] {
  const ciphertext = new Uint8Array(100).fill(0x5a);
  const out = [];
  for (let i = 0; i < n; i++) {
    const m = g.members[i % MEMBERS]!;
    out.push({
      m,
      bytes: encodeFrame(
        {
          opcode: Opcode.APP_MESSAGE,
          requestId: requestSeq++,
          roomId: rooms[i % rooms.length]!,
          senderId: m.senderId,
          epoch: 1n,
          payload: encodePayload(Opcode.APP_MESSAGE, { generation: i, ciphertext }),
        },
        m.signer,
      ),
    });
  }
  return out;
}

/**
 * Feeds frames with up to WINDOW requests in flight (as many clients would): new frames
 * are sequenced while the previous batch is being fsynced, so CPU and I/O overlap.
 */
/** CPU time of this thread (Linux: /proc/self/task/<pid>/stat; 0 elsewhere), in µs. */
function mainThreadCpuUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime, in clock ticks
  } catch {
    return 0;
  }
}

/** CPU time of the last `pump`: the whole process (every thread) and the calling thread. */
const lastCpu = { processUs: 0, mainUs: 0 };

async function pump(hub: HubCore, frames: { m: Member; bytes: Uint8Array }[]): Promise<number> {
  const c0 = process.cpuUsage();
  const m0 = mainThreadCpuUs();
  const t0 = performance.now();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    let inflight = 0;
    const more = (): void => {
      while (inflight < WINDOW && next < frames.length) {
        const f = frames[next++]!;
        inflight++;
        hub.handleFrame(f.m.name, f.m.senderId, f.bytes).then(() => {
          inflight--;
          if (next === frames.length && inflight === 0) resolve();
          else if (inflight < WINDOW / 2) more();
        }, reject);
      }
    };
    more();
  });
  await hub.shards.drain();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  lastCpu.processUs = c.user + c.system;
  lastCpu.mainUs = mainThreadCpuUs() - m0;
  return seconds;
}

async function oneRoom(g: Group, n: number, maxBatch: number, verify: boolean) {
  const storage =
    process.env.BENCH_SEQ_MEMORY === "1"
      ? (new MemoryStorage() as unknown as Awaited<ReturnType<typeof openLmdbStorage>>)
      : await openLmdbStorage({ path: tmp() });
  const counter = new CountingSink();
  // BENCH_SEQ_SYNC_SIGN=1: ACKs signed in the sequencing thread, as before (comparison).
  const seed = systemRng.bytes(32);
  const hubSigner =
    process.env.BENCH_SEQ_SYNC_SIGN === "1" ? createDeviceSigner(seed) : createHubSigner(seed);
  const hub = await HubCore.open({
    storage,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    hubSigner,
    sink: counter.sink,
    groups: publicGroupViews(),
    limits: { maxBatch, verifySignatures: verify },
  });
  const room = 1n;
  await setUpRoom(hub, g, room);
  const frames = messages(g, [room], n);
  counter.acks = 0;
  const seconds = await pump(hub, frames);
  if (counter.acks !== n)
    throw new Error(`expected ${n} acks, got ${counter.acks} (${counter.errors} errors)`);
  const cpu = { processUs: lastCpu.processUs / n, mainUs: lastCpu.mainUs / n };
  return { hub, storage, room, rate: n / seconds, deliveries: counter.deliveries, cpu };
}

async function allShards(g: Group, n: number) {
  const count = Math.max(1, availableParallelism());
  const dir = tmp();
  const counter = new CountingSink();
  const seed = systemRng.bytes(32);
  const shards = await WorkerShards.start({
    count,
    hubSeed: seed,
    sink: counter.sink,
    setupOptions: { path: dir },
  });
  const hub = await HubCore.open({
    storage: await openLmdbStorage({ path: join(dir, "hub") }),
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
    hubSigner: createHubSigner(seed),
    sink: counter.sink,
    shards,
    limits: { verifySignatures: false },
  });
  // Two rooms per shard: room ids picked by placement (shardOf), not consecutive ids,
  // which may hash three rooms to one shard and one to the other.
  const rooms: bigint[] = [];
  const perShard = new Array<number>(count).fill(0);
  for (let id = 100n; rooms.length < count * 2; id++) {
    const s = shardOf(id, count);
    if (perShard[s]! < 2) {
      perShard[s]!++;
      rooms.push(id);
    }
  }
  for (const r of rooms) await setUpRoom(hub, g, r);
  const frames = messages(g, rooms, n);
  counter.acks = 0;
  const seconds = await pump(hub, frames);
  if (counter.acks !== n)
    throw new Error(`expected ${n} acks, got ${counter.acks} (${counter.errors} errors)`);
  await hub.close();
  const cpu = { processUs: lastCpu.processUs / n, mainUs: lastCpu.mainUs / n };
  return { rate: n / seconds, shards: count, rooms: rooms.length, cpu };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

try {
  const g = await buildGroup();
  const only = process.env.BENCH_SEQ_ONLY;
  if (only === "one_room" || only === "shards") {
    // Profiling knob: one figure only (e.g. under `node --cpu-prof`).
    if (only === "one_room") {
      await (await oneRoom(g, Math.min(1000, MSGS), 4096, false)).hub.close();
      const r = await oneRoom(g, MSGS, 4096, false);
      await r.hub.close();
      const batches = (r.hub.shards as unknown as { shards: { batcher: { batches: number } }[] })
        .shards[0]!.batcher.batches;
      console.log(JSON.stringify({ msgs_per_s_one_room: round(r.rate), cpu_us: r.cpu, batches }));
    } else {
      const r = await allShards(g, MSGS);
      console.log(JSON.stringify({ msgs_per_s_all_shards: round(r.rate), cpu_us: r.cpu }));
    }
  } else {
    // Warm-up (JIT, key caches), then the measured runs.
    await (await oneRoom(g, Math.min(1000, MSGS), 4096, false)).hub.close();
    const batched = await oneRoom(g, MSGS, 4096, false);
    const verified = await oneRoom(g, Math.min(MSGS, quick ? 1_000 : 10_000), 4096, true);
    await verified.hub.close();
    const baseline = await oneRoom(g, BASELINE_MSGS, 1, false);
    await baseline.hub.close();

    const deletes: number[] = [];
    for (let i = 0; i < DELETES; i++) {
      const t0 = performance.now();
      await batched.storage.secureDelete(batched.room, BigInt(2 + i * 7));
      deletes.push(performance.now() - t0);
    }
    await batched.hub.close();
    await batched.storage.close();

    const shards = await allShards(g, MSGS);
    const cvMembers = commitValidateMembers();
    const cv = await measureCommitValidate(cvMembers, quick ? 3 : 15);

    const result = {
      msgs_per_s_one_room: round(batched.rate),
      msgs_per_s_one_room_verified: round(verified.rate),
      baseline_unbatched_msgs_per_s: round(baseline.rate),
      group_commit_speedup: round(batched.rate / baseline.rate, 1),
      fanout_members: MEMBERS,
      fanout_deliveries_per_s: round((batched.deliveries / MSGS) * batched.rate),
      one_room_cpu_us_per_msg: round(batched.cpu.processUs, 1),
      one_room_main_thread_cpu_us_per_msg: round(batched.cpu.mainUs, 1),
      msgs_per_s_all_shards: round(shards.rate),
      all_shards_cpu_us_per_msg: round(shards.cpu.processUs, 1),
      all_shards_hub_thread_cpu_us_per_msg: round(shards.cpu.mainUs, 1),
      shards: shards.shards,
      shard_rooms: shards.rooms,
      secure_delete_ms_p50: round(percentile(deletes, 50), 2),
      secure_delete_ms_p99: round(percentile(deletes, 99), 2),
      commit_validate_ms_1000_members: cv.ms_p50,
      commit_validate_members: cvMembers,
      msgs: MSGS,
      quick,
    };
    console.log(JSON.stringify(result));
  }
} finally {
  cleanupBenchDirs();
}
