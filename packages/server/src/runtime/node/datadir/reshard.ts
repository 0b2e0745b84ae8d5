/**
 * `kalandrad admin reshard --shards N` (docs/operations.md "Re-sharding"): moves every room
 * of a worker-shard data directory to the layout of N shards, offline.
 *
 * 1. Take the directory's lock (refused while a hub, a migrate or another reshard has it)
 *    and check the data format is current.
 * 2. Finish or roll back an interrupted run (reshardJournal.ts).
 * 3. `staging`: open and close each old shard once (the storage's recovery finishes any
 *    erasure in flight and wipes orphan keys), copy every room into
 *    `reshard.new/shard-<j>` (reshardCopy.ts), check the row counts, sync.
 * 4. `switching`: move the old `shard-<i>` to `reshard.old/`, the new ones into place,
 *    record `shards.json`, archive the old audit chains verbatim under
 *    `audit-archive/reshard-<id>/`, append a `reshard` record naming their heads to the
 *    hub's own chain, overwrite the old key vaults with zeros (fsync'ed) and delete the old
 *    directories. Then the journal goes.
 *
 * Erasure holds throughout: a live key exists in the old vault and, from staging on, in the
 * staged one; the old copy is wiped in place before its file is deleted, and a rolled-back
 * staging vault is wiped the same way. Nothing erased before the reshard becomes readable:
 * an erased frame has no key in any vault.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { toHex } from "@kalandra/proto";
import { openEnv, VAULT_FILE } from "../../../storage/lmdb/layout.js";
import { openLmdbStorage } from "../../../storage/lmdb/lmdbStorage.js";
import { readAuditTable } from "../../../storage/lmdb/verifyLog.js";
import { syncPath, writeJsonAtomic } from "../files/atomicFile.js";
import { readShardLayout, ShardLayoutError, shardDirs, writeLayout } from "../shards/layout.js";
import { shardPath } from "../shards/setup.js";
import { acquireDataLock } from "./dataLock.js";
import { checkFormat } from "./migrate.js";
import { type CopyStats, copyShards, countRows } from "./reshardCopy.js";
import {
  RETIRED_DIR,
  type ReshardJournal,
  readJournal,
  removeJournal,
  STAGING_DIR,
  writeJournal,
} from "./reshardJournal.js";

export const ARCHIVE_DIR = "audit-archive";

export interface ReshardOptions {
  /** The new shard count (>= 1). */
  shards: number;
  /** Who asked, for the audit records (default "kalandrad admin reshard"). */
  actor?: string;
  log?: (msg: string) => void;
  /** Wall-clock milliseconds (runtime-injected; default Date.now). */
  now?: () => number;
  /** Skip fsyncs: tests only. */
  noSync?: boolean;
  /**
   * Tests only: called at each named step of the switch ("old-moved", "new-moved",
   * "layout-written", "archived", "recorded"); throwing there stands for a crash.
   */
  onStep?: (step: string) => void;
}

export interface ReshardResult {
  from: number;
  to: number;
  /** Undefined when there was nothing to do (already at the count). */
  id?: string;
  stats?: CopyStats;
  /** Wall time of staging and switching (what the benchmark divides by). */
  ms: number;
}

export async function reshardDataDir(dataDir: string, o: ReshardOptions): Promise<ReshardResult> {
  const dir = resolve(dataDir);
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => Date.now());
  const actor = o.actor ?? "kalandrad admin reshard";
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 1024) {
    throw new RangeError(`--shards expected an integer from 1 to 1024, got ${o.shards}`);
  }
  const t0 = now();
  // Not reentrant: a hub open in this very process holds the directory too.
  const lock = acquireDataLock(dir, "reshard");
  try {
    checkFormat(dir);
    const interrupted = readJournal(dir);
    if (interrupted?.phase === "staging") {
      log(`rolling back an interrupted reshard ${interrupted.from} → ${interrupted.to}`);
      rollBack(dir);
    } else if (interrupted?.phase === "switching") {
      log(`finishing an interrupted reshard ${interrupted.from} → ${interrupted.to}`);
      await switchLayout(dir, interrupted, actor, now, o);
    }
    const layout = readShardLayout(dir);
    if (layout?.runtime !== "worker") {
      throw new ShardLayoutError(
        `${dir} is not a worker-shard data directory (${layout === undefined ? "no shards.json" : 'shard_runtime "in-process"'}): ` +
          "its rooms all live in one storage, there is nothing to move",
      );
    }
    const have = shardDirs(dir);
    if (have.length !== layout.shards || have.some((s, i) => s !== i)) {
      throw new ShardLayoutError(
        `${dir}: shards.json says ${layout.shards} shards but the directory holds ${have.map((i) => `shard-${i}`).join(", ") || "none"}`,
      );
    }
    if (layout.shards === o.shards) {
      log(`${dir} already has ${o.shards} shards: nothing to do`);
      return { from: layout.shards, to: o.shards, ms: now() - t0 };
    }
    const j: ReshardJournal = {
      id: `${t0}-${layout.shards}to${o.shards}`,
      from: layout.shards,
      to: o.shards,
      phase: "staging",
      started: new Date(t0).toISOString(),
    };
    writeJournal(dir, j);
    let stats: CopyStats;
    try {
      stats = await stage(dir, j, actor, BigInt(now()), o.noSync === true, log);
    } catch (err) {
      rollBack(dir);
      throw err;
    }
    writeJournal(dir, { ...j, phase: "switching" });
    await switchLayout(dir, { ...j, phase: "switching" }, actor, now, o);
    const ms = now() - t0;
    log(
      `resharded ${j.from} → ${j.to} shards: ${stats.rooms} rooms, ${stats.frames} frames, ` +
        `${stats.liveKeys} live keys, ${stats.blobs} blobs, ${stats.auditRecords} audit records in ${ms} ms`,
    );
    return { from: j.from, to: j.to, id: j.id, stats, ms };
  } finally {
    lock.release();
  }
}

async function stage(
  dir: string,
  j: ReshardJournal,
  actor: string,
  at: bigint,
  noSync: boolean,
  log: (msg: string) => void,
): Promise<CopyStats> {
  const oldDirs = Array.from({ length: j.from }, (_, i) => shardPath(dir, i));
  // Each old shard opened once by the storage: finishes erasures in flight (vault_dirty),
  // wipes orphan keys, and leaves it cleanly closed for the raw copy.
  for (const d of oldDirs) await (await openLmdbStorage({ path: d, noSync })).close();
  const staging = join(dir, STAGING_DIR);
  if (existsSync(staging)) wipeTree(staging);
  mkdirSync(staging);
  const newDirs = Array.from({ length: j.to }, (_, i) => shardPath(staging, i));
  log(`copying ${j.from} shard directories into ${j.to} (${staging})`);
  const stats = await copyShards(oldDirs, newDirs, { id: j.id, actor, at, noSync });
  const after = await countRows(newDirs);
  for (const [table, n] of Object.entries(stats.rows)) {
    const got = after.rows[table as keyof typeof after.rows] ?? 0;
    const want = table === "requests" ? n - stats.mergedRequests : n;
    if (got !== want)
      throw new ShardLayoutError(
        `reshard check: ${table} should have ${want} rows, copy has ${got}`,
      );
  }
  if (after.liveKeys !== stats.liveKeys) {
    throw new ShardLayoutError(
      `reshard check: ${stats.liveKeys} live keys, copy has ${after.liveKeys}`,
    );
  }
  for (const d of newDirs) syncPath(d);
  syncPath(staging);
  return stats;
}

/** The switch: every step can be repeated after a crash (see the module comment). */
async function switchLayout(
  dir: string,
  j: ReshardJournal,
  actor: string,
  now: () => number,
  o: Pick<ReshardOptions, "noSync" | "onStep">,
): Promise<void> {
  const step = o.onStep ?? (() => undefined);
  const retired = join(dir, RETIRED_DIR);
  const staging = join(dir, STAGING_DIR);
  mkdirSync(retired, { recursive: true });
  // All old directories out first: shard-0 … names exist in both layouts.
  for (let i = 0; i < j.from; i++) {
    const to = shardPath(retired, i);
    if (!existsSync(to) && existsSync(shardPath(dir, i))) renameSync(shardPath(dir, i), to);
  }
  syncPath(retired);
  syncPath(dir);
  step("old-moved");
  for (let i = 0; i < j.to; i++) {
    const from = shardPath(staging, i);
    if (!existsSync(from)) continue;
    if (existsSync(shardPath(dir, i))) {
      throw new ShardLayoutError(`${shardPath(dir, i)} exists while ${from} is not moved yet`);
    }
    renameSync(from, shardPath(dir, i));
  }
  syncPath(dir);
  step("new-moved");
  writeLayout(dir, { runtime: "worker", shards: j.to });
  step("layout-written");
  const heads = await archiveChains(dir, j);
  step("archived");
  await recordInHubChain(dir, j, actor, now, heads, o.noSync === true);
  step("recorded");
  wipeTree(retired);
  if (existsSync(staging)) wipeTree(staging);
  syncPath(dir);
  removeJournal(dir);
}

interface ChainHead {
  shard: number;
  count: number;
  head: string;
}

/** The retired shards' audit tables, verbatim, as JSON beside the data (idempotent). */
async function archiveChains(dir: string, j: ReshardJournal): Promise<ChainHead[]> {
  const out = join(dir, ARCHIVE_DIR, `reshard-${j.id}`);
  mkdirSync(out, { recursive: true });
  const heads: ChainHead[] = [];
  for (let i = 0; i < j.from; i++) {
    const file = join(out, `shard-${i}.json`);
    const src = shardPath(join(dir, RETIRED_DIR), i);
    if (existsSync(src)) {
      const env = openEnv(src, { readOnly: true });
      try {
        const { records, head } = readAuditTable(env.tables);
        writeJsonAtomic(file, {
          shard: i,
          reshard: j.id,
          head: head === undefined ? null : { count: Number(head.count), hash: toHex(head.hash) },
          records: records.map((r) => ({ key: Number(r.key), bytes: toHex(r.bytes) })),
        });
      } finally {
        await env.root.close();
      }
    }
    if (existsSync(file)) {
      const a = JSON.parse(readFileSync(file, "utf8")) as {
        head: { count: number; hash: string } | null;
      };
      heads.push({ shard: i, count: a.head?.count ?? 0, head: a.head?.hash ?? "" });
    }
  }
  syncPath(out);
  return heads;
}

async function recordInHubChain(
  dir: string,
  j: ReshardJournal,
  actor: string,
  now: () => number,
  heads: ChainHead[],
  noSync: boolean,
): Promise<void> {
  const hub = await openLmdbStorage({ path: dir, noSync });
  try {
    if (hub.readAudit().some((r) => r.kind === "reshard" && r.detail.id === j.id)) return;
    await hub.appendAudit({
      kind: "reshard",
      at: BigInt(now()),
      actor,
      detail: {
        id: j.id,
        from: j.from,
        to: j.to,
        retired_chains: heads,
        archive: `${ARCHIVE_DIR}/reshard-${j.id}`,
      },
    });
  } finally {
    await hub.close();
  }
}

/** Wipes every key vault under `root` in place (zeros, fdatasync), then deletes the tree. */
function wipeTree(root: string): void {
  for (const i of shardDirs(root)) {
    const vault = join(shardPath(root, i), VAULT_FILE);
    if (existsSync(vault)) wipeFile(vault);
  }
  rmSync(root, { recursive: true, force: true });
}

function wipeFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    const zeros = new Uint8Array(Math.min(size, 1 << 20));
    for (let at = 0; at < size; at += zeros.length) {
      writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  unlinkSync(path);
}

function rollBack(dir: string): void {
  const staging = join(dir, STAGING_DIR);
  if (existsSync(staging)) wipeTree(staging);
  syncPath(dir);
  removeJournal(dir);
}
