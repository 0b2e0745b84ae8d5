/**
 * The re-sharding figure of `pnpm bench ops` (issue 16): `reshard_rooms_per_s`, rooms moved
 * per second by `kalandrad admin reshard` (packages/server/src/runtime/node/datadir) from 2
 * to 4 worker shards with real fsyncs, on a data directory written through the LMDB storage
 * itself: `rooms` rooms of `frames` frames (payloads of `payloadBytes`, sealed, keys in the
 * vaults), every tenth frame erased. Also reported: frames and MB moved per second.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { reshardDataDir } from "../../packages/server/src/runtime/node/datadir/reshard.js";
import { shardDirs, writeLayout } from "../../packages/server/src/runtime/node/shards/layout.js";
import { shardPath } from "../../packages/server/src/runtime/node/shards/setup.js";
import { shardOf } from "../../packages/server/src/shards/shardOf.js";
import { openLmdbStorage } from "../../packages/server/src/storage/lmdb/lmdbStorage.js";
import type { AppendEntry } from "../../packages/server/src/storage/types.js";

export interface ReshardFigures {
  reshard_rooms_per_s: number;
  reshard_frames_per_s: number;
  reshard_mb_per_s: number;
  reshard_rooms: number;
  reshard_frames: number;
  reshard_data_mb: number;
}

const HEADER = new Uint8Array(128).fill(0x11);

/** Bytes of the shard directories' LMDB files and key vaults. */
function dirBytes(dir: string): number {
  let n = 0;
  for (const i of shardDirs(dir)) {
    for (const f of ["data.mdb", "keys.vault"]) {
      try {
        n += statSync(join(shardPath(dir, i), f)).size;
      } catch {
        // A shard directory without a vault yet.
      }
    }
  }
  return n;
}

/** A 2-shard data directory of `rooms` × `frames`, written through the storage. */
async function makeDataDir(dir: string, rooms: number, frames: number, payloadBytes: number) {
  const shards = [0, 1].map((i) => openLmdbStorage({ path: shardPath(dir, i), noSync: true }));
  const s = await Promise.all(shards);
  const payload = new Uint8Array(payloadBytes).fill(0x61);
  let request = 0;
  for (let r = 0; r < rooms; r++) {
    const roomId = BigInt(1000 + r);
    const store = s[shardOf(roomId, 2)];
    if (store === undefined) throw new Error("shard");
    await store.putRoom({ roomId, createdAt: 1n, settings: {} }, new Uint8Array(64).fill(r & 0xff));
    for (let from = 0; from < frames; from += 512) {
      const batch: AppendEntry[] = [];
      for (let i = from; i < Math.min(frames, from + 512); i++) {
        batch.push({
          roomId,
          logIndex: BigInt(i),
          header: HEADER,
          payload,
          senderId: 7n,
          requestId: request++ & 0xffffffff,
          response: HEADER,
          userId: "alice",
        });
      }
      await store.append(batch);
    }
    for (let i = 0; i < frames; i += 10) await store.secureDelete(roomId, BigInt(i));
  }
  for (const store of s) await store.close();
  writeLayout(dir, { runtime: "worker", shards: 2 });
}

/** Reshards `dir` (a stopped hub's worker-shard directory) to `shards` and reports the rate. */
export async function reshardFigures(dir: string, shards: number): Promise<ReshardFigures> {
  const bytes = dirBytes(dir);
  const r = await reshardDataDir(dir, { shards });
  const s = r.ms / 1000;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    reshard_rooms_per_s: round((r.stats?.rooms ?? 0) / s),
    reshard_frames_per_s: round((r.stats?.frames ?? 0) / s),
    reshard_mb_per_s: round(bytes / 1e6 / s),
    reshard_rooms: r.stats?.rooms ?? 0,
    reshard_frames: r.stats?.frames ?? 0,
    reshard_data_mb: round(bytes / 1e6),
  };
}

/** `reshardFigures` 2 → 4 on a directory of `rooms` × `frames` made for it. */
export async function measureReshard(o: {
  rooms: number;
  frames: number;
  payloadBytes: number;
}): Promise<ReshardFigures> {
  const tmp = tempDir("bench-reshard");
  try {
    const dir = join(tmp.path, "data");
    await makeDataDir(dir, o.rooms, o.frames, o.payloadBytes);
    return await reshardFigures(dir, 4);
  } finally {
    tmp.cleanup();
  }
}
