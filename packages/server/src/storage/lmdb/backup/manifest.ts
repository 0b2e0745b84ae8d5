/**
 * A backup's manifest (`manifest.json`, docs/storage.md "Backups and erasure"): what the
 * backup holds and how to check it offline — the hub's public key, the data format, the
 * shard layout, per environment the rooms with their last log_index, and the size and
 * SHA-256 of every file. It is written last (temporary name, fsync, rename), so a
 * directory without one is an unfinished backup.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { ShardLayout } from "../../../runtime/node/shards/layout.js";
import { BackupError } from "./errors.js";

export const MANIFEST_FILE = "manifest.json";
const KIND = "kalandra-backup";
const VERSION = 1;

/** One LMDB environment of the data directory: the hub's (`dir` "") or a shard's. */
export interface EnvEntry {
  /** "main" or "shard-<i>". */
  name: string;
  /** Its directory relative to the data directory ("" for the hub's own). */
  dir: string;
  /** Stream number of its sealed keys (sealing.ts). */
  stream: number;
  /** Vault slots (the high-water mark) of the snapshot: `keys.sealed` covers them all. */
  vault_slots: number;
  /** Live payload keys in the snapshot. */
  live_keys: number;
  /** Audit records in the snapshot. */
  audit_records: number;
  /** Room id (32 hex digits) → last log_index (decimal; "-1" for a room without frames). */
  rooms: Record<string, string>;
}

export interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  kind: typeof KIND;
  version: typeof VERSION;
  /** 16 random bytes, hex: bound into every sealed chunk. */
  id: string;
  /** The backup point (ms since the epoch): every frame acknowledged before it is included. */
  created_at: number;
  finished_at: number;
  /** Hex Ed25519 public key of the hub ("" when the data directory had no hub key). */
  hub_public_key: string;
  /** The data format version of the directory (storage/format.ts). */
  format: number;
  /** `shards.json` of the directory (null when it had none). */
  layout: ShardLayout | null;
  backup_key: { key_id: string; wrapped: string };
  envs: EnvEntry[];
  journal_entries: number;
  /** Path relative to the backup → size and SHA-256. */
  files: Record<string, FileEntry>;
}

/** Size and SHA-256 of a file, read in 4 MiB pieces. */
export function digestFile(path: string): FileEntry {
  const hash = createHash("sha256");
  const buf = new Uint8Array(4 << 20);
  const fd = openSync(path, "r");
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Makes a written file durable. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeManifest(dir: string, m: BackupManifest): void {
  const path = join(dir, MANIFEST_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
  fsyncFile(tmp);
  renameSync(tmp, path);
  fsyncFile(dir);
}

function fail(dir: string, why: string): never {
  throw new BackupError("CORRUPT", `${join(dir, MANIFEST_FILE)}: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isNat = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isHex = (v: unknown, n?: number): v is string =>
  typeof v === "string" && /^[0-9a-f]*$/.test(v) && (n === undefined || v.length === n);

function checkEnv(dir: string, e: unknown, i: number): EnvEntry {
  if (!isObj(e)) fail(dir, `envs[${i}] is not an object`);
  if (typeof e.name !== "string" || typeof e.dir !== "string" || !/^(|shard-\d+)$/.test(e.dir)) {
    fail(dir, `envs[${i}] has no valid name and dir`);
  }
  for (const k of ["stream", "vault_slots", "live_keys", "audit_records"]) {
    if (!isNat(e[k])) fail(dir, `envs[${i}].${k} is not a count`);
  }
  if (!isObj(e.rooms)) fail(dir, `envs[${i}].rooms is not an object`);
  for (const [room, last] of Object.entries(e.rooms)) {
    if (!isHex(room, 32) || typeof last !== "string" || !/^(-1|\d+)$/.test(last)) {
      fail(dir, `envs[${i}].rooms has a malformed entry ${room}`);
    }
  }
  return e as unknown as EnvEntry;
}

/** Reads and checks the shape of `<dir>/manifest.json`. */
export function readManifest(dir: string): BackupManifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new BackupError("MISSING", `${dir} holds no ${MANIFEST_FILE} (not a finished backup)`);
  }
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    fail(dir, `not JSON (${(e as Error).message})`);
  }
  if (!isObj(m) || m.kind !== KIND) fail(dir, "not a kalandra backup manifest");
  if (m.version !== VERSION) fail(dir, `unknown manifest version ${String(m.version)}`);
  if (!isHex(m.id, 32)) fail(dir, "id is not 32 hex digits");
  if (!isNat(m.created_at) || !isNat(m.finished_at)) fail(dir, "created_at/finished_at");
  if (!isHex(m.hub_public_key)) fail(dir, "hub_public_key is not hex");
  if (!Number.isInteger(m.format) || (m.format as number) < 1) fail(dir, "format is not a version");
  if (m.layout !== null && !isObj(m.layout)) fail(dir, "layout");
  const bk = m.backup_key;
  if (!isObj(bk) || !isHex(bk.key_id, 16) || !isHex(bk.wrapped)) fail(dir, "backup_key");
  if (!Array.isArray(m.envs) || m.envs.length === 0) fail(dir, "envs is empty");
  m.envs.forEach((e, i) => {
    checkEnv(dir, e, i);
  });
  if (!isNat(m.journal_entries)) fail(dir, "journal_entries is not a count");
  if (!isObj(m.files)) fail(dir, "files is not an object");
  for (const [name, f] of Object.entries(m.files)) {
    if (name.includes("..") || name.startsWith("/")) fail(dir, `file ${name} leaves the backup`);
    if (!isObj(f) || !isNat(f.bytes) || !isHex(f.sha256, 64)) fail(dir, `files["${name}"]`);
  }
  return m as unknown as BackupManifest;
}

/** Checks every file named by the manifest: BackupError(CORRUPT) naming the first that differs. */
export function checkFiles(dir: string, m: BackupManifest, only?: (name: string) => boolean): void {
  for (const [name, want] of Object.entries(m.files)) {
    if (only !== undefined && !only(name)) continue;
    const path = join(dir, name);
    if (!existsSync(path)) throw new BackupError("MISSING", `${path} is missing`);
    const got = digestFile(path);
    if (got.bytes !== want.bytes || got.sha256 !== want.sha256) {
      throw new BackupError(
        "CORRUPT",
        `${path} differs from the manifest (${got.bytes} bytes, sha256 ${got.sha256.slice(0, 16)}…; ` +
          `expected ${want.bytes} bytes, ${want.sha256.slice(0, 16)}…)`,
      );
    }
  }
}
