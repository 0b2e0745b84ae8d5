/**
 * `kalandrad restore DIR` (docs/storage.md "Backups and erasure"): a backup back into an
 * empty data directory, with every erasure journal that applies.
 *
 * Journals: the backup's own (frames erased while it was being taken) plus those of every
 * newer backup of the same hub — named with `journals`, and found beside it (backups kept
 * side by side in one folder) unless `discover` is false. A frame a journal names never
 * gets its key back: its slot stays zero in the new vault, its sealed payload is dropped,
 * its key reference marked erased, and a `secure_delete` record (actor "restore") is
 * appended to the environment's audit chain — so the restored hub's own later backups carry
 * these erasures on as well.
 *
 * Everything is written into `<into>.restore-<id>` and renamed into place at the end, so an
 * interrupted restore never leaves a data directory that looks complete.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { LAYOUT_FILE } from "../../../runtime/node/shards/layout.js";
import { DATA_FORMAT_VERSION, FORMAT_FILE } from "../../format.js";
import { frameKey, readRoomKey } from "../../keys.js";
import { keyRef, ONE, readKeyRef, STATE_ERASED, STATE_LIVE, u32 } from "../../slotRef.js";
import { AuditLog } from "../auditLog.js";
import { DATA_FILE, VAULT_FILE } from "../layout.js";
import { KeyVault, SLOT_BYTES } from "../vault.js";
import {
  BLOB_JOURNAL_FILE,
  blobFilesUnder,
  blobRows,
  decodeBlobJournal,
  removeBlobFile,
} from "./blobFiles.js";
import { SEALED_HUB_KEY_FILE } from "./create.js";
import { withEnv } from "./envs.js";
import { BackupError } from "./errors.js";
import { decodeJournal, type Erasure, JOURNAL_FILE } from "./journal.js";
import { checkKeyPlacement, readBackupKey } from "./keyFile.js";
import {
  type BackupManifest,
  checkFiles,
  type EnvEntry,
  fsyncFile,
  MANIFEST_FILE,
  readManifest,
} from "./manifest.js";
import { forEachKeyChunk, SEALED_KEYS_FILE } from "./sealedKeys.js";
import { HUB_KEY_STREAM, openChunk, unwrapBackupKey } from "./sealing.js";

export interface RestoreOptions {
  /** The backup directory. */
  from: string;
  /** The data directory to create (missing or empty). */
  into: string;
  keyFile: string;
  /** Newer backups of the same hub whose erasure journals apply too. */
  journals?: readonly string[];
  /** Also apply the journals of newer backups found beside `from` (default true). */
  discover?: boolean;
  /** Wall clock (ms) for the audit records of the erasures applied. */
  now?: () => number;
}

export interface RestoreReport {
  manifest: BackupManifest;
  /** The backups whose journals were applied (the restored one first). */
  journalsFrom: string[];
  /** Frames live in the backup that a journal erased. */
  erased: number;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const from = resolve(o.from);
  const into = resolve(o.into);
  if (existsSync(into) && readdirSync(into).length > 0) {
    throw new BackupError("NOT_EMPTY", `${into} is not empty: restore into a new data directory`);
  }
  const m = readManifest(from);
  if (m.format > DATA_FORMAT_VERSION) {
    throw new BackupError(
      "INCOMPATIBLE",
      `the backup holds data format ${m.format}; this kalandrad reads up to format ${DATA_FORMAT_VERSION}`,
    );
  }
  checkFiles(from, m);
  checkKeyPlacement(resolve(o.keyFile), [into]);
  const master = readBackupKey(o.keyFile);
  if (master.id !== m.backup_key.key_id) {
    throw new BackupError(
      "KEY",
      `the backup was made under backup key ${m.backup_key.key_id}; ${o.keyFile} holds key ${master.id}`,
    );
  }
  const id = Uint8Array.from(Buffer.from(m.id, "hex"));
  const backupKey = unwrapBackupKey(master.key, id, m.backup_key.wrapped);
  master.key.fill(0);
  const sources = journalSources(from, m, o);
  const erasures = new Map<string, Erasure>();
  for (const src of sources) {
    for (const e of readJournal(src, m)) {
      erasures.set(Buffer.from(frameKey(e.roomId, e.logIndex)).toString("hex"), e);
    }
  }
  const blobErasures = new Map<string, Uint8Array>();
  for (const src of sources) {
    for (const k of readBlobJournal(src, m)) blobErasures.set(Buffer.from(k).toString("hex"), k);
  }
  const tmp = `${into}.restore-${m.id.slice(0, 8)}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const now = o.now ?? Date.now;
  let erased = 0;
  try {
    for (const e of m.envs) {
      erased += await restoreEnv(from, tmp, e, [...erasures.values()], [...blobErasures.values()], {
        backupKey,
        id,
        now,
        reason: `erased before restore (erasure journals of ${sources.length} backup(s), restoring ${m.id})`,
      });
    }
    if (m.files[SEALED_HUB_KEY_FILE] !== undefined) {
      const sealed = new Uint8Array(readFileSync(join(from, SEALED_HUB_KEY_FILE)));
      const pem = openChunk(backupKey, id, HUB_KEY_STREAM, 0, sealed);
      writeFileSync(join(tmp, "hub-key.pem"), pem, { mode: 0o600 });
      pem.fill(0);
    }
    for (const f of [LAYOUT_FILE, FORMAT_FILE]) {
      if (m.files[f] !== undefined) copyFileSync(join(from, f), join(tmp, f));
    }
    fsyncFile(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    backupKey.fill(0);
  }
  if (existsSync(into)) rmdirSync(into);
  renameSync(tmp, into);
  fsyncFile(dirname(into));
  return { manifest: m, journalsFrom: sources, erased };
}

/** `from`, the named journals, and newer backups of the same hub beside `from`. */
function journalSources(from: string, m: BackupManifest, o: RestoreOptions): string[] {
  const out = [from, ...(o.journals ?? []).map((j) => resolve(j))];
  if (o.discover !== false) {
    const parent = dirname(from);
    for (const name of readdirSync(parent).sort()) {
      const dir = join(parent, name);
      if (!existsSync(join(dir, MANIFEST_FILE))) continue;
      let other: BackupManifest;
      try {
        other = readManifest(dir);
      } catch {
        continue; // not a backup, or an unfinished one: not a source of truth
      }
      if (other.hub_public_key === m.hub_public_key && other.created_at > m.created_at) {
        out.push(dir);
      }
    }
  }
  return [...new Set(out)];
}

/** The checked journal of backup `dir`, which must be of the same hub as `m`. */
function readJournal(dir: string, m: BackupManifest): Erasure[] {
  const other = readManifest(dir);
  if (other.hub_public_key !== m.hub_public_key) {
    throw new BackupError("INCOMPATIBLE", `${dir} is a backup of another hub`);
  }
  checkFiles(dir, other, (name) => name === JOURNAL_FILE);
  return decodeJournal(new Uint8Array(readFileSync(join(dir, JOURNAL_FILE))));
}

/** The blob journal of backup `dir` (none in backups from before attachments). */
function readBlobJournal(dir: string, m: BackupManifest): Uint8Array[] {
  const other = readManifest(dir);
  if (other.hub_public_key !== m.hub_public_key || other.files[BLOB_JOURNAL_FILE] === undefined) {
    return [];
  }
  checkFiles(dir, other, (name) => name === BLOB_JOURNAL_FILE);
  return decodeBlobJournal(new Uint8Array(readFileSync(join(dir, BLOB_JOURNAL_FILE))));
}

/** One environment: its LMDB copy with the journals applied, and a new key vault. */
async function restoreEnv(
  from: string,
  tmp: string,
  e: EnvEntry,
  erasures: readonly Erasure[],
  blobErasures: readonly Uint8Array[],
  s: { backupKey: Uint8Array; id: Uint8Array; now: () => number; reason: string },
): Promise<number> {
  const dst = join(tmp, e.dir);
  mkdirSync(dst, { recursive: true });
  copyFileSync(join(from, e.dir, DATA_FILE), join(dst, DATA_FILE));
  for (const name of blobFilesUnder(from, e.dir)) {
    mkdirSync(dirname(join(tmp, name)), { recursive: true });
    copyFileSync(join(from, name), join(tmp, name));
  }
  const dropped = new Set<number>();
  await withEnv(dst, { readOnly: false }, async (env) => {
    const t = env.tables;
    // Reads first, then only writes in the transaction (keyPackages.ts on throwing callbacks).
    const hits: { key: Uint8Array; slot: number; e: Erasure }[] = [];
    for (const er of erasures) {
      const key = frameKey(er.roomId, er.logIndex);
      const ref = t.payload_keys.get(key);
      if (ref === undefined) continue;
      const { state, slot } = readKeyRef(ref, `room ${er.roomId} index ${er.logIndex}`);
      if (state === STATE_LIVE) hits.push({ key, slot, e: er });
    }
    const blobHits = blobRows(t).filter((b) =>
      blobErasures.some((k) => Buffer.compare(k, b.key) === 0),
    );
    const audit = new AuditLog(t);
    await env.root.transaction(() => {
      for (const h of hits) {
        audit.appendInTxn({
          kind: "secure_delete",
          at: BigInt(s.now()),
          roomId: h.e.roomId,
          actor: "restore",
          detail: { log_index: h.e.logIndex, reason: s.reason },
        });
        t.payload_keys.putSync(h.key, keyRef(STATE_ERASED, 0));
        t.payloads.removeSync(h.key);
        t.vault_free.putSync(u32(h.slot), ONE);
        dropped.add(h.slot);
      }
      for (const b of blobHits) {
        audit.appendInTxn({
          kind: "blob_erase",
          at: BigInt(s.now()),
          roomId: readRoomKey(b.key, 0),
          actor: "restore",
          detail: { blob_id: Buffer.from(b.key.subarray(16)).toString("hex"), reason: s.reason },
        });
        t.cas.removeSync(b.key);
        t.vault_free.putSync(u32(b.slot), ONE);
        dropped.add(b.slot);
      }
    });
    for (const b of blobHits) removeBlobFile(dst, b.key);
    await env.root.flushed;
  });
  writeVault(join(from, e.dir, SEALED_KEYS_FILE), join(dst, VAULT_FILE), e, dropped, s);
  return dropped.size;
}

/** The new key vault: every sealed chunk opened, the dropped slots left zero, synced. */
function writeVault(
  sealedPath: string,
  vaultPath: string,
  e: EnvEntry,
  dropped: ReadonlySet<number>,
  s: { backupKey: Uint8Array; id: Uint8Array },
): void {
  const vault = KeyVault.open(vaultPath);
  try {
    const sorted = [...dropped].sort((a, b) => a - b);
    let next = 0;
    forEachKeyChunk(sealedPath, e.vault_slots, { ...s, stream: e.stream }, (first, keys) => {
      const n = keys.length / SLOT_BYTES;
      while (next < sorted.length && (sorted[next] as number) < first + n) {
        const at = ((sorted[next] as number) - first) * SLOT_BYTES;
        keys.fill(0, at, at + SLOT_BYTES);
        next++;
      }
      vault.writeMany(
        Array.from({ length: n }, (_, i) => first + i),
        keys,
      );
    });
    vault.syncNow();
  } finally {
    vault.close();
  }
}
