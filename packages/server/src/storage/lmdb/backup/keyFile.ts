/**
 * The backup key file (`[backup] key_file`, docs/storage.md "Backups and erasure"): 32 random
 * bytes as 64 hex digits, mode 0600, kept by the operator away from the data directory and
 * from the backups. Every backup draws its own fresh backup key and stores it only wrapped
 * under this key, so the files of a backup alone hold no payload key in a usable form, and
 * destroying a key file destroys every backup made under it (crypto-shredding of whole
 * backup generations when the key is rotated).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { BackupError } from "./errors.js";

export const BACKUP_KEY_BYTES = 32;

export interface BackupKeyFile {
  key: Uint8Array;
  /** 16 hex digits naming the key (SHA-256 of a label and the key), kept in manifests. */
  id: string;
  /** true when this call wrote the file. */
  created: boolean;
}

export function backupKeyId(key: Uint8Array): string {
  return createHash("sha256")
    .update("kalandra backup key id\0")
    .update(key)
    .digest("hex")
    .slice(0, 16);
}

function inside(dir: string, path: string): boolean {
  const r = relative(resolve(dir), resolve(path));
  return r === "" || (!r.startsWith("..") && !r.startsWith("/"));
}

/** Refuses a key file kept inside one of `dirs` (the data directory, the backup). */
export function checkKeyPlacement(path: string, dirs: readonly string[]): void {
  for (const dir of dirs) {
    if (inside(dir, path)) {
      throw new BackupError(
        "KEY",
        `the backup key file ${path} is inside ${dir}: keep it apart from the data and the backups`,
      );
    }
  }
}

/** Reads the key file; BackupError(KEY) when it is missing or malformed. */
export function readBackupKey(path: string): BackupKeyFile {
  if (!existsSync(path)) throw new BackupError("KEY", `backup key file ${path} does not exist`);
  const text = readFileSync(path, "utf8").trim();
  if (!/^[0-9a-f]{64}$/i.test(text)) {
    throw new BackupError("KEY", `backup key file ${path} must hold 64 hex digits`);
  }
  const key = Uint8Array.from(Buffer.from(text, "hex"));
  return { key, id: backupKeyId(key), created: false };
}

/** Reads the key file, or creates it (mode 0600, never overwriting) when it is missing. */
export function loadOrCreateBackupKey(path: string): BackupKeyFile {
  if (existsSync(path)) return readBackupKey(path);
  const key = new Uint8Array(randomBytes(BACKUP_KEY_BYTES));
  writeFileSync(path, `${Buffer.from(key).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return { key, id: backupKeyId(key), created: true };
}
