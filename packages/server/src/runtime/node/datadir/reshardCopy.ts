/**
 * The copying half of a reshard (reshard.ts): every row of the old shard directories goes
 * to the new directory of the shard its room hashes to under the new count, and every live
 * payload key goes from the old key vault into a slot of the new one. Rows are copied as
 * stored: headers, sealed payloads (their associated data is room ‖ index, not a slot, so
 * they open with the same key in the new place), room state, user index and idempotency
 * records. Only `payload_keys` changes: a live frame points at its new slot; an erased one
 * stays erased (no key exists anywhere to copy).
 *
 * Idempotency records are keyed by (sender_id, request_id), not by room, so two old shards
 * can hold the same key (hub notices are sent as sender 0; a client may reuse a request id
 * in another room). Merged into one shard, the newer response (higher HLC stamp) is kept,
 * as one storage would have done when the later one overwrote the earlier.
 *
 * Audit: each old shard chain holds the `secure_delete` records of its erasures. The new
 * chains cannot keep the old hashes (a chain is one sequence), so each record is appended
 * again to the new chain of its room's shard with `detail.moved_from = {shard, seq}`, and
 * each new chain ends with a `reshard` record. The old chains themselves are archived
 * verbatim (reshard.ts) and their heads written to the hub's own chain.
 *
 * Attachment blobs (storage/lmdb/blobs.ts) move with their room: the `cas`, `blob_refs` and
 * `msg_blobs` rows, the blob's key into a slot of the new vault (the `cas` row names it),
 * and the blob's file hard-linked into the new directory (copied where a link is not
 * possible): the chunks are sealed under the blob's key with room ‖ blob_id as associated
 * data, so the same bytes open in the new place, and the old file goes with the old tree.
 *
 * Keys never touch anything but the two vault files: they are read into memory, written to
 * the new vault, synced before the LMDB transaction that points at them, then zeroed.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "@kalandra/proto";
import { decodeAuditRecord } from "../../../audit/chain.js";
import { shardOf } from "../../../shards/shardOf.js";
import { StorageError } from "../../../storage/errors.js";
import { copyBytes, readRoomKey, readUserPrefix } from "../../../storage/keys.js";
import { AuditLog } from "../../../storage/lmdb/auditLog.js";
import { BLOBS_DIR } from "../../../storage/lmdb/blobs.js";
import {
  type Env,
  META,
  openEnv,
  type TableName,
  VAULT_FILE,
} from "../../../storage/lmdb/layout.js";
import { CLEAN } from "../../../storage/lmdb/recovery.js";
import { KeyVault, SLOT_BYTES } from "../../../storage/lmdb/vault.js";
import { keyRef, readKeyRef, readU32, STATE_LIVE, u32 } from "../../../storage/slotRef.js";
import type { AuditRecord } from "../../../storage/types.js";
import { syncPath } from "../files/atomicFile.js";

/** Tables whose rows belong to one room, and where a row names its room. */
const ROOM_OF: Partial<Record<TableName, (key: Uint8Array, value: Uint8Array) => bigint>> = {
  rooms: (k) => readRoomKey(k),
  mls_state: (k) => readRoomKey(k),
  headers: (k) => readRoomKey(k),
  payloads: (k) => readRoomKey(k),
  payload_keys: (k) => readRoomKey(k),
  user_index: (k) => readRoomKey(k, readUserPrefix(k).end),
  // sender ‖ request → the response frame, whose header names the room (offset 12).
  requests: (_k, v) => (v.length >= 28 ? readRoomKey(v, 12) : 0n),
  // room ‖ blob_id → slot ‖ …; room ‖ blob_id ‖ index; room ‖ index.
  cas: (k) => readRoomKey(k),
  blob_refs: (k) => readRoomKey(k),
  msg_blobs: (k) => readRoomKey(k),
};

/** A blob's file under a shard directory, from its `cas` key (room ‖ blob_id). */
function blobFile(shardDir: string, casKey: Uint8Array): string {
  return join(shardDir, BLOBS_DIR, toHex(casKey.subarray(0, 16)), toHex(casKey.subarray(16)));
}

/** Copied row by row: the tables above. */
export const ROOM_TABLES = Object.keys(ROOM_OF) as TableName[];

/** Rebuilt for each new directory rather than copied. */
const REBUILT: readonly TableName[] = ["meta", "vault_free", "vault_dirty", "audit"];

/** Rows at most per LMDB transaction (and vault sync) of one new shard. */
const BATCH_ROWS = 4096;

export interface CopyStats {
  rooms: number;
  frames: number;
  liveKeys: number;
  /** Attachment blobs moved (file and key). */
  blobs: number;
  auditRecords: number;
  /** Rows per table, summed over the old directories (the new ones must hold as many). */
  rows: Partial<Record<TableName, number>>;
  /** Idempotency records that met one with the same key from another old shard. */
  mergedRequests: number;
}

/** The HLC stamp of a stored response frame (header offset 44). */
function hlcOf(frame: Uint8Array): bigint {
  return frame.length >= 52
    ? new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(44, false)
    : 0n;
}

interface Put {
  table: TableName;
  key: Uint8Array;
  value: Uint8Array;
}

/** One new shard directory being filled: pending rows, pending keys, its own audit chain. */
class ShardWriter {
  private readonly env: Env;
  private readonly vault: KeyVault;
  private readonly audit: AuditLog;
  private puts: Put[] = [];
  private slots: number[] = [];
  private keys: Uint8Array[] = [];
  private records: AuditRecord[] = [];
  private hwm = 0;
  /** Blob folders written to since the last flush (synced before the rows that name them). */
  private blobDirs = new Set<string>();
  readonly rooms = new Set<bigint>();
  mergedRequests = 0;

  constructor(
    readonly path: string,
    private readonly noSync: boolean,
  ) {
    this.env = openEnv(path, { noSync });
    this.vault = KeyVault.open(join(path, VAULT_FILE), noSync);
    this.audit = new AuditLog(this.env.tables);
  }

  async put(table: TableName, key: Uint8Array, value: Uint8Array): Promise<void> {
    this.puts.push({ table, key, value });
    if (this.puts.length >= BATCH_ROWS) await this.flush();
  }

  /** A live frame's key: the next slot of this vault, and the reference to it. */
  async putKey(frameKey: Uint8Array, payloadKey: Uint8Array): Promise<void> {
    const slot = this.hwm++;
    this.slots.push(slot);
    this.keys.push(payloadKey);
    await this.put("payload_keys", frameKey, keyRef(STATE_LIVE, slot));
  }

  /**
   * A complete blob: its key into the next slot of this vault, its `cas` row pointing at
   * that slot, and its file linked (or copied) from `from`.
   */
  async putBlob(
    casKey: Uint8Array,
    row: Uint8Array,
    blobKey: Uint8Array,
    from: string,
  ): Promise<void> {
    if (!existsSync(from)) {
      blobKey.fill(0);
      throw new StorageError("CORRUPT", `${from}: the blob file its row names is missing`);
    }
    const to = blobFile(this.path, casKey);
    const folder = join(to, "..");
    mkdirSync(folder, { recursive: true });
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
      if (!this.noSync) syncPath(to);
    }
    this.blobDirs.add(folder);
    this.blobDirs.add(join(folder, ".."));
    const slot = this.hwm++;
    this.slots.push(slot);
    this.keys.push(blobKey);
    const moved = copyBytes(row);
    moved.set(u32(slot), 0);
    await this.put("cas", casKey, moved);
  }

  async putAudit(record: AuditRecord): Promise<void> {
    this.records.push(record);
    if (this.records.length >= BATCH_ROWS) await this.flush();
  }

  /** Keys into the vault and synced, then one LMDB transaction with the rows that use them. */
  async flush(): Promise<void> {
    if (!this.noSync) for (const d of this.blobDirs) syncPath(d);
    this.blobDirs.clear();
    if (this.slots.length > 0) {
      const all = new Uint8Array(this.slots.length * SLOT_BYTES);
      this.keys.forEach((k, i) => {
        all.set(k, i * SLOT_BYTES);
        k.fill(0);
      });
      try {
        this.vault.writeMany(this.slots, all);
      } finally {
        all.fill(0);
      }
      this.vault.syncNow();
    }
    const puts = this.puts;
    const records = this.records;
    const t = this.env.tables;
    const hwm = this.hwm;
    this.puts = [];
    this.slots = [];
    this.keys = [];
    this.records = [];
    await this.env.root.transaction(() => {
      for (const p of puts) {
        if (p.table === "requests") {
          const had = t.requests.get(p.key);
          if (had !== undefined) {
            this.mergedRequests++;
            if (hlcOf(had) > hlcOf(p.value)) continue;
          }
        }
        t[p.table].putSync(p.key, p.value);
      }
      for (const r of records) this.audit.appendInTxn(r);
      t.meta.putSync(META.vaultHwm, u32(hwm));
    });
    if (!this.noSync) await this.env.root.flushed;
  }

  /** Last rows, the `reshard` record, marked cleanly closed, synced and closed. */
  async finish(closing: AuditRecord): Promise<void> {
    this.records.push(closing);
    await this.flush();
    await this.env.root.transaction(() => this.env.tables.meta.putSync(META.clean, CLEAN));
    if (!this.noSync) await this.env.root.flushed;
    this.vault.syncNow();
    this.vault.close();
    await this.env.root.close();
  }

  /** After a failure: closes without finishing (the caller wipes the directory). */
  async abandon(): Promise<void> {
    for (const k of this.keys) k.fill(0);
    this.vault.close();
    await this.env.root.close();
  }
}

/**
 * Copies the rooms of `oldDirs` (shard i = oldDirs[i], each cleanly closed and not open
 * anywhere) into `newDirs` (shard j of the new layout = newDirs[j], created here).
 */
export async function copyShards(
  oldDirs: readonly string[],
  newDirs: readonly string[],
  o: { id: string; actor: string; at: bigint; noSync?: boolean },
): Promise<CopyStats> {
  const to = newDirs.length;
  const writers = newDirs.map((d) => new ShardWriter(d, o.noSync === true));
  const stats: CopyStats = {
    rooms: 0,
    frames: 0,
    liveKeys: 0,
    blobs: 0,
    auditRecords: 0,
    rows: {},
    mergedRequests: 0,
  };
  try {
    for (const [i, dir] of oldDirs.entries()) {
      await copyShard(i, dir, writers, stats);
    }
    for (const [j, w] of writers.entries()) {
      await w.finish({
        kind: "reshard",
        at: o.at,
        actor: o.actor,
        detail: { id: o.id, from: oldDirs.length, to, shard: j, rooms: w.rooms.size },
      });
      stats.rooms += w.rooms.size;
      stats.mergedRequests += w.mergedRequests;
    }
  } catch (err) {
    await Promise.all(writers.map((w) => w.abandon().catch(() => undefined)));
    throw err;
  }
  return stats;
}

async function copyShard(
  index: number,
  dir: string,
  writers: ShardWriter[],
  stats: CopyStats,
): Promise<void> {
  const to = writers.length;
  const env = openEnv(dir, { readOnly: true });
  const vault = KeyVault.open(join(dir, VAULT_FILE), true);
  const writerOf = (room: bigint) => writers[shardOf(room, to)] as ShardWriter;
  try {
    const t = env.tables;
    for (const name of Object.keys(t) as TableName[]) {
      if (ROOM_OF[name] !== undefined || REBUILT.includes(name)) continue;
      // Hub-only tables (key packages, users, Welcomes, …): a shard never writes them, and
      // a row there would have no room to say where it goes.
      const n = t[name].getKeysCount();
      if (n > 0) {
        throw new StorageError(
          "CORRUPT",
          `${dir}: table ${name} holds ${n} rows; a shard holds none`,
        );
      }
    }
    for (const name of ROOM_TABLES) {
      const roomOf = ROOM_OF[name] as (k: Uint8Array, v: Uint8Array) => bigint;
      for (const { key, value } of t[name].getRange()) {
        const k = copyBytes(key);
        const v = copyBytes(value);
        const room = roomOf(k, v);
        const w = writerOf(room);
        stats.rows[name] = (stats.rows[name] ?? 0) + 1;
        if (name === "rooms") w.rooms.add(room);
        if (name === "headers") stats.frames++;
        if (name === "cas") {
          stats.blobs++;
          await w.putBlob(k, v, vault.read(readU32(v)), blobFile(dir, k));
          continue;
        }
        if (name !== "payload_keys") {
          await w.put(name, k, v);
          continue;
        }
        const ref = readKeyRef(v, `${dir} room ${room}`);
        if (ref.state === STATE_LIVE) {
          stats.liveKeys++;
          await w.putKey(k, vault.read(ref.slot));
        } else {
          await w.put(name, k, v);
        }
      }
    }
    for (const { value } of t.audit.getRange()) {
      const { seq, record } = decodeAuditRecord(copyBytes(value));
      stats.auditRecords++;
      const w = record.roomId === undefined ? (writers[0] as ShardWriter) : writerOf(record.roomId);
      await w.putAudit({
        ...record,
        detail: { ...record.detail, moved_from: { shard: index, seq } },
      });
    }
  } finally {
    vault.close();
    await env.root.close();
  }
}

/** Rows per room table and live keys in `dirs` (to check a copy against its source). */
export async function countRows(dirs: readonly string[]): Promise<{
  rows: Partial<Record<TableName, number>>;
  liveKeys: number;
}> {
  const rows: Partial<Record<TableName, number>> = {};
  let liveKeys = 0;
  for (const dir of dirs) {
    const env = openEnv(dir, { readOnly: true });
    try {
      for (const name of ROOM_TABLES) {
        rows[name] = (rows[name] ?? 0) + env.tables[name].getKeysCount();
      }
      for (const { value } of env.tables.payload_keys.getRange()) {
        if (value[0] === STATE_LIVE) liveKeys++;
      }
    } finally {
      await env.root.close();
    }
  }
  return { rows, liveKeys };
}
