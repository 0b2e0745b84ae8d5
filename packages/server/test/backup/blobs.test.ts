/**
 * Blobs in backups (docs/storage.md "Blobs"): a backup carries the blob files and keys, a
 * restore brings back a live blob byte for byte, and rule ★ holds for blobs: a blob erased
 * at the time of a newer backup beside the restored one stays erased, its key never
 * written and its file gone.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BLOB_CHUNK_SIZE, blobIdOf } from "@kalandra/proto";
import { seededBytes } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { blobFile } from "../../src/storage/lmdb/backup/blobFiles.js";
import { createBackup } from "../../src/storage/lmdb/backup/create.js";
import { restoreBackup } from "../../src/storage/lmdb/backup/restore.js";
import { blobKey } from "../../src/storage/lmdb/blobs.js";
import { type LmdbStorage, openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { entry, filesUnder, tempDir, utf8 } from "../storage/helpers.js";
import { HubDir } from "./fixture.js";

const tmp = tempDir("backup-blobs");
afterAll(() => tmp.cleanup());

/** Stores `blob` in `room` of `s` and a frame referencing it; returns that frame's index. */
async function putBlob(s: LmdbStorage, room: bigint, blob: Uint8Array): Promise<bigint> {
  const id = blobIdOf(blob);
  const w = s.blobs.begin(room, id, blob.length);
  for (let i = 0; i * BLOB_CHUNK_SIZE < blob.length; i++) {
    w.write(i, blob.subarray(i * BLOB_CHUNK_SIZE, (i + 1) * BLOB_CHUNK_SIZE));
  }
  await w.commit({ userId: "alice", completedAt: 1n });
  const index = s.nextIndex(room);
  await s.append([{ ...entry(room, index, utf8("with a blob")), blobRefs: [id] }]);
  return index;
}

function readAll(s: LmdbStorage, room: bigint, blob: Uint8Array): Uint8Array {
  const id = blobIdOf(blob);
  const parts: Uint8Array[] = [];
  for (let i = 0; i * BLOB_CHUNK_SIZE < blob.length; i++)
    parts.push(s.blobs.readChunk(room, id, i));
  return Buffer.concat(parts);
}

describe("backups with attachment blobs", () => {
  it("restore brings a live blob back and keeps an erased one erased (rule ★)", async () => {
    const data = join(tmp.path, "data");
    const key = join(tmp.path, "backup.key");
    const hub = await HubDir.create(data, "blobs");
    await hub.send(0, 7n, 1);
    const shard = hub.shards[0] as LmdbStorage;
    const kept = seededBytes(1, BLOB_CHUNK_SIZE + 11);
    const gone = seededBytes(2, 3000);
    await putBlob(shard, 7n, kept);
    const goneIndex = await putBlob(shard, 7n, gone);
    const goneKey = shard.inspectBlobKey(7n, blobIdOf(gone)) as Uint8Array;
    const older = join(tmp.path, "backups", "1-older");
    await createBackup({
      dataDir: data,
      hubKeyPath: join(data, "hub-key.pem"),
      out: older,
      keyFile: key,
      now: () => 1000,
    });
    // Erased after the older backup: its message redacted takes the blob with it.
    await shard.secureDelete(7n, goneIndex, { actor: "test" });
    await shard.idle();
    expect(shard.blobs.get(7n, blobIdOf(gone))).toBeUndefined();
    const newer = join(tmp.path, "backups", "2-newer");
    await createBackup({
      dataDir: data,
      hubKeyPath: join(data, "hub-key.pem"),
      out: newer,
      keyFile: key,
      now: () => 2000,
    });
    await hub.close();

    // Restoring the older backup alone (no newer one beside it) brings both back.
    const alone = join(tmp.path, "alone");
    await restoreBackup({
      from: older,
      into: alone,
      keyFile: key,
      discover: false,
      now: () => 3000,
    });
    const a = await openLmdbStorage({ path: join(alone, "shard-0"), noSync: true });
    try {
      expect(readAll(a, 7n, kept)).toEqual(Buffer.from(kept));
      expect(readAll(a, 7n, gone)).toEqual(Buffer.from(gone));
    } finally {
      await a.close();
    }

    // With the newer backup beside it, its blob journal applies: the blob stays erased.
    const into = join(tmp.path, "restored");
    await restoreBackup({ from: older, into, keyFile: key, now: () => 3000 });
    const r = await openLmdbStorage({ path: join(into, "shard-0"), noSync: true });
    try {
      expect(readAll(r, 7n, kept)).toEqual(Buffer.from(kept));
      expect(r.blobs.get(7n, blobIdOf(gone))).toBeUndefined();
      expect(existsSync(join(into, "shard-0", blobFile(blobKey(7n, blobIdOf(gone)))))).toBe(false);
      expect(
        r
          .readAudit()
          .filter((x) => x.kind === "blob_erase")
          .map((x) => x.actor),
      ).toEqual(["restore"]);
    } finally {
      await r.close();
    }
    // No file of the restored directory holds the erased blob's key.
    const holding = filesUnder(into).filter(
      (f) => readFileSync(f).indexOf(Buffer.from(goneKey)) >= 0,
    );
    expect(holding).toEqual([]);
  });
});
