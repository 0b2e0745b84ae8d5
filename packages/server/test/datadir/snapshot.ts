/**
 * What a data directory holds, read back through the storage itself (keys from the vaults,
 * payloads opened): every room's log (header, payload digest or erased), room metadata and
 * state, the user index and the secure_delete records of every chain. Two directories with
 * equal snapshots hold the same rooms whatever their shard layout; the fixture's
 * `expected.json` is this snapshot of the directory when it was made.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { toHex } from "@kalandra/proto";
import { shardDirs } from "../../src/runtime/node/shards/layout.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";

export interface RoomSnapshot {
  room: string;
  createdAt: string;
  state: string;
  /** header hex ‖ ":" ‖ SHA-256 of the payload, or "erased". */
  frames: string[];
}

export interface DataSnapshot {
  rooms: RoomSnapshot[];
  /** `user room index` for every user index row. */
  userIndex: string[];
  /** `room index` of every secure_delete record, over every shard chain. */
  erasures: string[];
  /** How many moderation records the hub's own chain holds, by kind. */
  hubAudit: Record<string, number>;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export async function snapshotDataDir(dir: string, users: string[]): Promise<DataSnapshot> {
  const rooms: RoomSnapshot[] = [];
  const userIndex: string[] = [];
  const erasures: string[] = [];
  for (const i of shardDirs(dir)) {
    const s = await openLmdbStorage({ path: join(dir, `shard-${i}`), noSync: true });
    try {
      for (const roomId of s.listRooms()) {
        const frames: string[] = [];
        for (let from = 0n; ; ) {
          const page = s.readRange(roomId, from, 256);
          if (page.length === 0) break;
          for (const f of page) {
            frames.push(`${toHex(f.header)}:${f.payload === null ? "erased" : sha(f.payload)}`);
          }
          from += BigInt(page.length);
        }
        const meta = s.getRoom(roomId);
        rooms.push({
          room: roomId.toString(),
          createdAt: String(meta?.createdAt ?? ""),
          state: sha(s.getRoomState(roomId) ?? new Uint8Array()),
          frames,
        });
      }
      for (const u of users) {
        for (const e of s.userIndex(u)) userIndex.push(`${u} ${e.roomId} ${e.logIndex}`);
      }
      for (const r of s.readAudit()) {
        if (r.kind === "secure_delete") erasures.push(`${r.roomId} ${String(r.detail.log_index)}`);
      }
      if (!s.verifyAudit().ok) throw new Error(`shard-${i}: audit chain does not verify`);
    } finally {
      await s.close();
    }
  }
  const hub = await openLmdbStorage({ path: dir, noSync: true });
  const hubAudit: Record<string, number> = {};
  try {
    for (const r of hub.readAudit()) hubAudit[r.kind] = (hubAudit[r.kind] ?? 0) + 1;
  } finally {
    await hub.close();
  }
  rooms.sort((a, b) => (BigInt(a.room) < BigInt(b.room) ? -1 : 1));
  return { rooms, userIndex: userIndex.sort(), erasures: erasures.sort(), hubAudit };
}
