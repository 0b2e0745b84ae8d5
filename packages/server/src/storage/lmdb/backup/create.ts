/**
 * `kalandrad backup create DIR` (docs/storage.md "Backups and erasure"): an online backup of
 * a data directory, taken beside a running kalandrad by opening each LMDB environment
 * read-only (LMDB lets readers of other processes run beside the writer, and a reader never
 * blocks it). Per environment, in this order:
 *
 * 1. T1 — LMDB's compacting copy (`mdb_env_copy2`, one read transaction): the snapshot.
 *    Every frame acknowledged before the backup started is committed, so it is in it.
 * 2. T2 — the key vault is read for the slots the snapshot references as live, and those
 *    keys are sealed under the backup's own fresh key (sealing.ts) into `keys.sealed`;
 *    every other slot is zero there. The vault is not part of LMDB's snapshot, so a slot
 *    read here may already be wiped or even reused by the hub — but only after that frame
 *    was erased, and an erasure commits its `secure_delete` record before it wipes.
 * 3. T3 — the erasure journal is read from the live audit chain (journal.ts). It holds
 *    every frame whose erasure began before T2's reads, so any key read in a torn or
 *    reused state belongs to a frame the journal names, and restore drops it.
 *
 * Rooms live in exactly one environment, so each room's state is the one consistent point
 * T1 of its environment; the environments are copied one after the other.
 */
import { createPrivateKey, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { ed25519RawPublicKey } from "@kalandra/proto/node";
import { LAYOUT_FILE, readShardLayout } from "../../../runtime/node/shards/layout.js";
import { DATA_FORMAT_VERSION, FORMAT_FILE } from "../../format.js";
import { DATA_FILE, VAULT_FILE } from "../layout.js";
import {
  BLOB_JOURNAL_FILE,
  blobErasuresOf,
  blobFilesUnder,
  blobRows,
  copyBlobFiles,
  encodeBlobJournal,
} from "./blobFiles.js";
import { envsOf, lastIndexes, liveKeyRefs, vaultHwm, withEnv } from "./envs.js";
import { BackupError } from "./errors.js";
import { type Erasure, encodeJournal, erasuresOf, JOURNAL_FILE } from "./journal.js";
import { checkKeyPlacement, loadOrCreateBackupKey } from "./keyFile.js";
import {
  type BackupManifest,
  digestFile,
  type EnvEntry,
  type FileEntry,
  fsyncFile,
  writeManifest,
} from "./manifest.js";
import { SEALED_KEYS_FILE, sealVault } from "./sealedKeys.js";
import { HUB_KEY_STREAM, sealChunk, wrapBackupKey } from "./sealing.js";

export const SEALED_HUB_KEY_FILE = "hub-key.sealed";

export interface CreateBackupOptions {
  dataDir: string;
  /** The hub's private key (`server.hub_key`, default `<data>/hub-key.pem`). */
  hubKeyPath: string;
  /** The backup directory: created, or empty. */
  out: string;
  /** The operator's backup key file (created when missing). */
  keyFile: string;
  /** Wall clock (ms) for the manifest's times. */
  now?: () => number;
}

export interface BackupReport {
  manifest: BackupManifest;
  /** Bytes written (every file of the manifest). */
  bytes: number;
  /** true when the key file was created by this backup. */
  keyCreated: boolean;
}

export async function createBackup(o: CreateBackupOptions): Promise<BackupReport> {
  const dataDir = resolve(o.dataDir);
  const out = resolve(o.out);
  if (!existsSync(join(dataDir, DATA_FILE))) {
    throw new BackupError("MISSING", `${dataDir} holds no ${DATA_FILE}: not a data directory`);
  }
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new BackupError("NOT_EMPTY", `${out} is not empty: back up into a new directory`);
  }
  checkKeyPlacement(resolve(o.keyFile), [dataDir, out]);
  const master = loadOrCreateBackupKey(o.keyFile);
  const now = o.now ?? Date.now;
  const createdAt = now();
  mkdirSync(out, { recursive: true });
  const id = new Uint8Array(randomBytes(16));
  const backupKey = new Uint8Array(randomBytes(32));
  try {
    const envs: EnvEntry[] = [];
    const journal: Erasure[] = [];
    const blobJournal: Uint8Array[] = [];
    for (const [stream, e] of envsOf(dataDir).entries()) {
      const src = join(dataDir, e.dir);
      const dst = join(out, e.dir);
      mkdirSync(dst, { recursive: true });
      const snap = await withEnv(src, { readOnly: true }, async (live) => {
        await live.root.backup(join(dst, DATA_FILE), true); // T1
        const s = await withEnv(dst, { readOnly: true }, (copy) => {
          const hwm = vaultHwm(copy.tables);
          const liveSlots = new Uint8Array(hwm);
          let count = 0;
          for (const { slot } of liveKeyRefs(copy.tables)) {
            if (slot >= hwm) throw new BackupError("CORRUPT", `${src}: slot ${slot} ≥ ${hwm}`);
            liveSlots[slot] = 1;
            count++;
          }
          // The blobs' keys are sealed with the payload keys (not counted as live_keys).
          const blobs = blobRows(copy.tables);
          for (const { slot } of blobs) {
            if (slot >= hwm) throw new BackupError("CORRUPT", `${src}: slot ${slot} ≥ ${hwm}`);
            liveSlots[slot] = 1;
          }
          return {
            hwm,
            liveSlots,
            count,
            rooms: lastIndexes(copy.tables),
            audit: copy.tables.audit.getKeysCount(),
            blobs: blobs.map((b) => b.key),
          };
        });
        sealVault(join(src, VAULT_FILE), join(dst, SEALED_KEYS_FILE), s.hwm, s.liveSlots, {
          backupKey,
          id,
          stream,
        }); // T2
        copyBlobFiles(src, dst, s.blobs); // T2 too: a file gone by now is in T3's journal
        live.root.resetReadTxn();
        journal.push(...erasuresOf(live.tables)); // T3
        blobJournal.push(...blobErasuresOf(live.tables));
        return s;
      });
      envs.push({
        name: e.name,
        dir: e.dir,
        stream,
        vault_slots: snap.hwm,
        live_keys: snap.count,
        audit_records: snap.audit,
        rooms: snap.rooms,
      });
    }
    let hubPublicKey = "";
    if (existsSync(o.hubKeyPath)) {
      const pem = new Uint8Array(readFileSync(o.hubKeyPath));
      hubPublicKey = Buffer.from(
        ed25519RawPublicKey(createPrivateKey(Buffer.from(pem).toString("utf8"))),
      ).toString("hex");
      writeFileSync(
        join(out, SEALED_HUB_KEY_FILE),
        sealChunk(backupKey, id, HUB_KEY_STREAM, 0, pem),
      );
      pem.fill(0);
    }
    for (const f of [LAYOUT_FILE, FORMAT_FILE]) {
      if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(out, f));
    }
    const journalBytes = encodeJournal(journal);
    writeFileSync(join(out, JOURNAL_FILE), journalBytes);
    writeFileSync(join(out, BLOB_JOURNAL_FILE), encodeBlobJournal(blobJournal));
    const files: Record<string, FileEntry> = {};
    let bytes = 0;
    for (const name of backupFiles(out, envs)) {
      fsyncFile(join(out, name));
      files[name] = digestFile(join(out, name));
      bytes += files[name].bytes;
    }
    const manifest: BackupManifest = {
      kind: "kalandra-backup",
      version: 1,
      id: Buffer.from(id).toString("hex"),
      created_at: createdAt,
      finished_at: now(),
      hub_public_key: hubPublicKey,
      format: formatOf(dataDir),
      layout: readShardLayout(dataDir) ?? null,
      backup_key: { key_id: master.id, wrapped: wrapBackupKey(master.key, id, backupKey) },
      envs,
      journal_entries: (journalBytes.length - 16) / 24,
      files,
    };
    writeManifest(out, manifest);
    return { manifest, bytes, keyCreated: master.created };
  } finally {
    backupKey.fill(0);
    master.key.fill(0);
  }
}

/** The data format version recorded in the directory (no file = version 1, storage/format.ts). */
function formatOf(dataDir: string): number {
  const path = join(dataDir, FORMAT_FILE);
  if (!existsSync(path)) return 1;
  const v = (JSON.parse(readFileSync(path, "utf8")) as { format?: unknown }).format;
  return Number.isInteger(v) ? (v as number) : DATA_FORMAT_VERSION;
}

/** Every file a backup holds (relative names), in a fixed order. */
function backupFiles(out: string, envs: readonly EnvEntry[]): string[] {
  const names: string[] = [];
  for (const e of envs) {
    names.push(join(e.dir, DATA_FILE), join(e.dir, SEALED_KEYS_FILE));
    names.push(...blobFilesUnder(out, e.dir));
  }
  for (const f of [
    SEALED_HUB_KEY_FILE,
    LAYOUT_FILE,
    FORMAT_FILE,
    JOURNAL_FILE,
    BLOB_JOURNAL_FILE,
  ]) {
    if (existsSync(join(out, f))) names.push(f);
  }
  return names;
}
