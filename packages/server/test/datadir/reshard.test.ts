/**
 * `kalandrad admin reshard` (issue 16, docs/operations.md "Re-sharding") on copies of the
 * committed fixture (2 worker shards, 6 rooms, 2 redactions): 2 → 4 → 1 with every room's
 * log, payloads (opened with their keys), erasures, room state, user index and audit
 * records read back; each live key in exactly one file afterwards; refused while a hub
 * holds the directory; an interrupted switch refused at start and finished by the next run.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BLOB_CHUNK_SIZE } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../src/audit/chain.js";
import { buildConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { DataLockError } from "../../src/runtime/node/datadir/dataLock.js";
import { ARCHIVE_DIR, reshardDataDir } from "../../src/runtime/node/datadir/reshard.js";
import {
  RESHARD_FILE,
  RETIRED_DIR,
  STAGING_DIR,
} from "../../src/runtime/node/datadir/reshardJournal.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { readShardLayout, shardDirs } from "../../src/runtime/node/shards/layout.js";
import { shardOf } from "../../src/shards/shardOf.js";
import { blobKey } from "../../src/storage/lmdb/blobs.js";
import { openEnv, VAULT_FILE } from "../../src/storage/lmdb/layout.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { KeyVault } from "../../src/storage/lmdb/vault.js";
import { readU32 } from "../../src/storage/slotRef.js";
import { expectedSnapshot, FIXTURE_USERS } from "../fixtures/dataV1.js";
import { entry } from "../storage/helpers.js";
import { tempDataDirs } from "./copies.js";
import { snapshotDataDir } from "./snapshot.js";

const dirs = tempDataDirs();
const copy = dirs.copy;

/** Every live payload key of the directory, read through the storage of each shard. */
async function liveKeys(dir: string): Promise<Uint8Array[]> {
  const keys: Uint8Array[] = [];
  for (const i of shardDirs(dir)) {
    const s = await openLmdbStorage({ path: join(dir, `shard-${i}`), noSync: true });
    try {
      for (const room of s.listRooms()) {
        for (const f of s.readRange(room, 0n, 1000)) {
          const k = s.inspectPayloadKey(room, f.logIndex);
          if (k !== undefined) keys.push(k);
        }
      }
    } finally {
      await s.close();
    }
  }
  return keys;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** Every file under `dir` with its size, to show a refused reshard changed nothing. */
function _snapshotFiles(dir: string): Record<string, number> {
  return Object.fromEntries(filesUnder(dir).map((f) => [f, statSync(f).size]));
}

/** How many times `needle` occurs in the files under `dir`. */
function occurrences(dir: string, needle: Uint8Array): number {
  let n = 0;
  for (const f of filesUnder(dir)) {
    const b = readFileSync(f);
    for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) n++;
  }
  return n;
}

/** The storage of the shard `room` lives in under `shards` shards. */
function storageOf(dir: string, shards: number, room: bigint) {
  return openLmdbStorage({ path: join(dir, `shard-${shardOf(room, shards)}`), noSync: true });
}

/** The vault keys of `blobs`, read through each one's shard (they are not in the API). */
async function blobVaultKeys(
  dir: string,
  blobs: readonly { room: bigint; id: Uint8Array }[],
): Promise<Uint8Array[]> {
  const keys: Uint8Array[] = [];
  for (const i of shardDirs(dir)) {
    const env = openEnv(join(dir, `shard-${i}`), { readOnly: true });
    const vault = KeyVault.open(join(dir, `shard-${i}`, VAULT_FILE), true);
    try {
      for (const b of blobs) {
        const row = env.tables.cas.get(blobKey(b.room, b.id));
        if (row !== undefined) keys.push(vault.read(readU32(row)));
      }
    } finally {
      vault.close();
      await env.root.close();
    }
  }
  expect(keys).toHaveLength(blobs.length);
  return keys;
}

function config(dir: string, shards: number) {
  const r = buildConfig({
    server: { listen: "127.0.0.1:0", websocket_listen: "", log_level: "fatal", shards },
    monitoring: { listen: "" },
    database: { path: dir, sync: "none" },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe("reshard", () => {
  it("2 → 4 → 1: every room, payload, erasure, state and audit record survives", async () => {
    const dir = copy();
    const expected = expectedSnapshot();
    const keys = await liveKeys(dir);
    expect(keys.length).toBeGreaterThan(40);
    for (const [to, from] of [
      [4, 2],
      [1, 4],
    ] as const) {
      const r = await reshardDataDir(dir, { shards: to, noSync: true });
      expect(r).toMatchObject({ from, to });
      expect(r.stats).toMatchObject({ rooms: 6, liveKeys: keys.length });
      expect(readShardLayout(dir)).toEqual({ runtime: "worker", shards: to });
      expect(shardDirs(dir)).toEqual(Array.from({ length: to }, (_, i) => i));
      for (const gone of [RESHARD_FILE, STAGING_DIR, RETIRED_DIR]) {
        expect(existsSync(join(dir, gone))).toBe(false);
      }
      // Same rooms, logs, payloads (opened with their moved keys), erasures, user index;
      // every shard's chain verifies (snapshotDataDir checks it).
      const snap = await snapshotDataDir(dir, FIXTURE_USERS);
      expect({ ...snap, hubAudit: {} }).toEqual({ ...expected, hubAudit: {} });
      expect(snap.hubAudit).toMatchObject({ redact: 2 });
      // Each live key exists once, in the new vault of its room's shard: the old vaults
      // were overwritten before they were deleted.
      for (const k of keys) expect(occurrences(dir, k)).toBe(1);
      // The old chains are archived verbatim and still verify against their heads.
      const archive = join(dir, ARCHIVE_DIR, `reshard-${r.id}`);
      for (let i = 0; i < from; i++) {
        const a = JSON.parse(readFileSync(join(archive, `shard-${i}.json`), "utf8")) as {
          head: { count: number; hash: string };
          records: { key: number; bytes: string }[];
        };
        const v = verifyAuditChain(
          a.records.map((x) => ({ key: BigInt(x.key), bytes: Buffer.from(x.bytes, "hex") })),
          { count: BigInt(a.head.count), hash: Buffer.from(a.head.hash, "hex") },
        );
        expect(v.ok).toBe(true);
      }
    }
    // The hub's chain names both runs; the moved secure_delete records name their origin.
    const hub = await openLmdbStorage({ path: dir, noSync: true });
    const hubRecords = hub.readAudit();
    await hub.close();
    expect(
      hubRecords.filter((x) => x.kind === "reshard").map((x) => [x.detail.from, x.detail.to]),
    ).toEqual([
      [2, 4],
      [4, 1],
    ]);
    const shard = await openLmdbStorage({ path: join(dir, "shard-0"), noSync: true });
    const records = shard.readAudit();
    await shard.close();
    const deletes = records.filter((x) => x.kind === "secure_delete");
    expect(deletes).toHaveLength(2);
    for (const d of deletes) expect(d.detail.moved_from).toBeDefined();
    expect(records.at(-1)).toMatchObject({ kind: "reshard", detail: { from: 4, to: 1 } });

    // A hub started on the result restores all six rooms from its one shard.
    const d = await Daemon.start({ config: config(dir, 0), log: createLogger("fatal") });
    try {
      const sent = await d.moderation?.userMessages("alice");
      expect(new Set(sent?.map((x) => x.roomId))).toEqual(
        new Set([501n, 502n, 503n, 504n, 505n, 506n]),
      );
      // 6 rooms × (create, commit, 5 messages) by alice = 42 entries.
      expect(sent).toHaveLength(42);
    } finally {
      await d.shutdown("test");
    }
  }, 60_000);

  it("is refused while a hub runs on the directory, and the directory is left as it was", async () => {
    const dir = copy();
    const d = await Daemon.start({ config: config(dir, 0), log: createLogger("fatal") });
    try {
      const err = await reshardDataDir(dir, { shards: 3, noSync: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataLockError);
      expect((err as Error).message).toMatch(/in use by process \d+ \(kalandrad start\)/);
      expect(readShardLayout(dir)).toEqual({ runtime: "worker", shards: 2 });
      expect(existsSync(join(dir, RESHARD_FILE))).toBe(false);
    } finally {
      await d.shutdown("test");
    }
    expect((await reshardDataDir(dir, { shards: 3, noSync: true })).to).toBe(3);
  }, 60_000);

  it("a switch interrupted at any step is refused at start and finished by the next run", async () => {
    for (const at of ["old-moved", "new-moved", "layout-written", "archived", "recorded"]) {
      const dir = copy();
      const crash = (step: string) => {
        if (step === at) throw new Error(`crash at ${step}`);
      };
      await expect(reshardDataDir(dir, { shards: 3, noSync: true, onStep: crash })).rejects.toThrow(
        `crash at ${at}`,
      );
      expect(existsSync(join(dir, RESHARD_FILE))).toBe(true);
      await expect(
        Daemon.start({ config: config(dir, 0), log: createLogger("fatal") }),
      ).rejects.toThrow(
        /a reshard from 2 to 3 shards was interrupted \(switching\); run `kalandrad admin reshard --shards 3` to finish it/,
      );
      const r = await reshardDataDir(dir, { shards: 3, noSync: true });
      expect(r.stats).toBeUndefined(); // finished the interrupted run: nothing more to do
      expect(readShardLayout(dir)).toEqual({ runtime: "worker", shards: 3 });
      const snap = await snapshotDataDir(dir, FIXTURE_USERS);
      expect(snap.rooms).toEqual(expectedSnapshot().rooms);
      expect(snap.erasures).toEqual(expectedSnapshot().erasures);
      expect(snap.hubAudit.reshard).toBe(1);
      expect(existsSync(join(dir, RETIRED_DIR))).toBe(false);
    }
  }, 120_000);

  it("an interrupted staging is rolled back (staged vaults wiped) and the reshard redone", async () => {
    const dir = copy();
    // A crash while copying: journal in `staging`, a partial staging directory.
    const { writeJournal } = await import("../../src/runtime/node/datadir/reshardJournal.js");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    writeJournal(dir, { id: "x", from: 2, to: 5, phase: "staging", started: "" });
    mkdirSync(join(dir, STAGING_DIR, "shard-0"), { recursive: true });
    writeFileSync(join(dir, STAGING_DIR, "shard-0", "keys.vault"), new Uint8Array(96).fill(7));
    await expect(
      Daemon.start({ config: config(dir, 0), log: createLogger("fatal") }),
    ).rejects.toThrow(/interrupted \(staging\)/);
    const r = await reshardDataDir(dir, { shards: 4, noSync: true });
    expect(r).toMatchObject({ from: 2, to: 4 });
    expect(existsSync(join(dir, STAGING_DIR))).toBe(false);
    expect((await snapshotDataDir(dir, FIXTURE_USERS)).rooms).toEqual(expectedSnapshot().rooms);
  }, 60_000);

  it("moves attachment blobs with their room: file, key, references; erasable afterwards", async () => {
    const dir = copy();
    // One blob in a room of each old shard; the first referenced by a frame appended to it.
    const blobs: { room: bigint; id: Uint8Array; chunks: Uint8Array[] }[] = [];
    for (const i of shardDirs(dir)) {
      const s = await openLmdbStorage({ path: join(dir, `shard-${i}`), noSync: true });
      try {
        const room = s.listRooms()[0] as bigint;
        const id = new Uint8Array(32).fill(0xb0 + i);
        const chunks = [new Uint8Array(BLOB_CHUNK_SIZE).fill(i + 1), new Uint8Array([9, i])];
        const w = s.blobs.begin(room, id, BLOB_CHUNK_SIZE + 2);
        for (const [n, c] of chunks.entries()) w.write(n, c);
        await w.commit({ userId: "alice", completedAt: 5n });
        if (i === 0) {
          await s.append([entry(room, s.nextIndex(room), "with attachment", { blobRefs: [id] })]);
        }
        blobs.push({ room, id, chunks });
      } finally {
        await s.close();
      }
    }
    const blobKeys = await blobVaultKeys(dir, blobs);
    const r = await reshardDataDir(dir, { shards: 3, noSync: true });
    expect(r.stats).toMatchObject({ blobs: 2 });
    for (const k of blobKeys) expect(occurrences(dir, k)).toBe(1);
    for (const b of blobs) {
      const s = await storageOf(dir, 3, b.room);
      try {
        expect(s.blobs.get(b.room, b.id)).toMatchObject({
          size: BLOB_CHUNK_SIZE + 2,
          userId: "alice",
          refs: b === blobs[0] ? 1 : 0,
        });
        for (const [n, c] of b.chunks.entries()) {
          expect(s.blobs.readChunk(b.room, b.id, n)).toEqual(c);
        }
        // The moved key erases like any: gone from the vault, the file removed.
        expect(await s.blobs.erase(b.room, b.id)).toBe(true);
        expect(s.blobs.get(b.room, b.id)).toBeUndefined();
      } finally {
        await s.close();
      }
    }
    for (const k of blobKeys) expect(occurrences(dir, k)).toBe(0);
    expect(filesUnder(dir).filter((f) => f.includes(`${join("blobs", "")}`))).toEqual([]);
  }, 60_000);

  it("refuses an in-process directory, a bad count, and does nothing at the same count", async () => {
    const dir = copy();
    await expect(reshardDataDir(dir, { shards: 0 })).rejects.toThrow(/--shards expected/);
    expect(await reshardDataDir(dir, { shards: 2, noSync: true })).toMatchObject({
      from: 2,
      to: 2,
    });
    const { writeLayout } = await import("../../src/runtime/node/shards/layout.js");
    writeLayout(dir, { runtime: "in-process", shards: 1 });
    await expect(reshardDataDir(dir, { shards: 3 })).rejects.toThrow(
      /not a worker-shard data directory/,
    );
  });
});
