/**
 * A room taken over by this hub (federation: planned transfer or failover) is sequenced by
 * the shard that owns it, from the log this hub holds as the room's replica in its main
 * storage (federation/replica.ts). With in-process shards that is the same storage; worker
 * shards each keep their own LMDB directory (runtime/node/shards/setup.ts), so before the
 * shard restarts the room's sequencer the replica's log is copied into the shard's storage
 * here, page by page over the shard messages (docs/federation.md "Shards").
 *
 * The copy continues the shard's own log of the room when it is a prefix of the replica's
 * (a room that comes back to a hub that sequenced it before); a shard log that runs past
 * the handover or differs from the replica at its last entry is another history (a deposed
 * authority's unreplicated tail, never part of the room): it is erased (every payload key
 * destroyed) and dropped first, as failover.ts does to a replica.
 */
import { bytesEqual, FrameHeader } from "@kalandra/proto";
import { eraseLog } from "../federation/replica.js";
import type { Storage } from "../storage/types.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import { askShard } from "./askShards.js";
import { shardOf } from "./shardOf.js";
import type { ShardSet } from "./shardSet.js";

/** One log entry as the replica holds it, for the shard's storage. */
export interface ImportEntry {
  logIndex: bigint;
  header: Uint8Array;
  /** null: erased at the authority (erased in the shard too). */
  payload: Uint8Array | null;
  senderId: bigint;
  requestId: number;
  /** The entry's idempotency answer (its ACK), empty for the hub's own frames. */
  response: Uint8Array;
}

/** Entries per shard message. */
export const IMPORT_PAGE = 256;

const EMPTY = new Uint8Array(0);

/**
 * Shard side: appends the entries that continue the room's log at its head, in order
 * (earlier ones are skipped, a gap stops the page); the log's end after them.
 */
export async function appendImported(
  storage: Storage,
  roomId: bigint,
  entries: readonly ImportEntry[],
): Promise<bigint> {
  for (const e of entries) {
    const head = storage.nextIndex(roomId);
    if (e.logIndex < head) continue;
    if (e.logIndex > head) break;
    await storage.append([
      {
        roomId,
        logIndex: e.logIndex,
        header: e.header,
        payload: e.payload ?? EMPTY,
        senderId: e.senderId,
        requestId: e.requestId,
        response: e.response,
      },
    ]);
    if (e.payload === null) await storage.secureDelete(roomId, e.logIndex);
  }
  return storage.nextIndex(roomId);
}

/** Shard side: erases and drops the shard's log of the room (another history). */
export async function dropImportedLog(storage: Storage, roomId: bigint): Promise<void> {
  await eraseLog(storage, roomId);
}

/**
 * Hub side: makes the log of the shard owning `roomId` equal to `main`'s up to `nextIndex`
 * (a no-op when the shard's storage is `main`); a refusal when the replica lacks entries.
 */
export async function copyLogToShard(
  shards: ShardSet,
  main: Storage,
  roomId: bigint,
  nextIndex: bigint,
): Promise<Refusal | undefined> {
  const index = shardOf(roomId, shards.count);
  let end = await askShard<bigint>(shards, index, { q: "logEnd", roomId });
  if (end > nextIndex || (end > 0n && !(await sameEntry(shards, index, main, roomId, end - 1n)))) {
    await shards.deliver(index, { t: "dropLog", roomId });
    end = 0n;
  }
  while (end < nextIndex) {
    const frames = main.readRange(roomId, end, IMPORT_PAGE).filter((f) => f.logIndex < nextIndex);
    if (frames[0]?.logIndex !== end) {
      return refuse("INTERNAL", `the replica lacks entry ${end} of room ${roomId}`);
    }
    const entries = frames.map((f): ImportEntry => {
      const h = FrameHeader.view(f.header);
      const response = h.senderId === 0n ? undefined : main.getResponse(h.senderId, h.requestId);
      return {
        logIndex: f.logIndex,
        header: f.header,
        payload: f.payload,
        senderId: h.senderId,
        requestId: h.requestId,
        response: response ?? EMPTY,
      };
    });
    const r = (await shards.deliver(index, { t: "importLog", roomId, entries })) as
      | { ok: true; logIndex?: bigint }
      | { ok: false; refusal: Refusal }
      | undefined;
    if (r?.ok !== true || r.logIndex === undefined || r.logIndex <= end) {
      return refuse(
        "INTERNAL",
        `shard ${index} did not take entries of room ${roomId} from ${end}`,
      );
    }
    end = r.logIndex;
  }
  return undefined;
}

async function sameEntry(
  shards: ShardSet,
  index: number,
  main: Storage,
  roomId: bigint,
  logIndex: bigint,
): Promise<boolean> {
  const theirs = await askShard<{ header: Uint8Array } | undefined>(shards, index, {
    q: "entry",
    roomId,
    logIndex,
  });
  const [ours] = main.readRange(roomId, logIndex, 1);
  return (
    theirs !== undefined &&
    ours?.logIndex === logIndex &&
    bytesEqual(new Uint8Array(theirs.header), ours.header)
  );
}
