/**
 * The data directory (docs/storage.md): `data.mdb` (LMDB, the tables below) and
 * `keys.vault` (payload keys in fixed slots, see vault.ts). Shared by the storage and by
 * the offline audit verifier, so both open the same tables the same way.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { asStorageError } from "../errors.js";
import { copyBytes, prefixEnd, u64Key } from "../keys.js";

export const DATA_FILE = "data.mdb";
export const VAULT_FILE = "keys.vault";

/** DESIGN §5 tables plus the ones this implementation needs (docs/storage.md has layouts). */
export const TABLE_NAMES = [
  "headers",
  "payload_keys",
  "payloads",
  "mls_state",
  "user_index",
  "cas",
  "blob_refs",
  "msg_blobs",
  "rooms",
  "requests",
  "key_packages",
  "kp_refs",
  "kp_devices",
  "welcomes",
  "welcome_expiry",
  "audit",
  "users",
  "devices",
  "user_devices",
  "enroll_codes",
  "link_nonces",
  "mod_answers",
  "mod_answer_age",
  "vault_free",
  "vault_dirty",
  "meta",
] as const;

export type TableName = (typeof TABLE_NAMES)[number];
export type Table = Database<Uint8Array, Uint8Array>;
export type Tables = Record<TableName, Table>;

/** Keys of the `meta` table. */
export const META = {
  /** u32 BE: vault slots in use or on the free list; slots from here on are orphans. */
  vaultHwm: new TextEncoder().encode("vault_hwm"),
  /** 1 byte: 1 after a clean close, 0 while open (an unclean start scans the free slots). */
  clean: new TextEncoder().encode("clean"),
  /** 40 bytes: audit record count (u64 BE) ‖ SHA-256 of the last record. */
  auditHead: new TextEncoder().encode("audit_head"),
  /** u64 BE: next key package sequence number (FIFO order per device). */
  kpSeq: new TextEncoder().encode("kp_seq"),
  /** u64 BE: next Welcome inbox sequence number (oldest first per device). */
  welcomeSeq: new TextEncoder().encode("welcome_seq"),
} as const;

/**
 * The rows of a table keyed `sender_id (8) ‖ seq (8)` that belong to one device, in seq
 * order (key packages, Welcomes), each key copied and its value decoded.
 */
export function deviceRows<T>(
  table: Table,
  senderId: bigint,
  decode: (value: Uint8Array) => T,
): { key: Uint8Array; value: T }[] {
  const prefix = u64Key(senderId, "senderId");
  const rows: { key: Uint8Array; value: T }[] = [];
  for (const { key, value } of table.getRange({ start: prefix, end: prefixEnd(prefix, 8) })) {
    rows.push({ key: copyBytes(key), value: decode(value) });
  }
  return rows;
}

export interface Env {
  root: RootDatabase<Uint8Array, Uint8Array>;
  tables: Tables;
}

export function openEnv(dir: string, opts: { readOnly?: boolean; noSync?: boolean } = {}): Env {
  try {
    if (opts.readOnly !== true) mkdirSync(dir, { recursive: true });
    const root = open<Uint8Array, Uint8Array>({
      path: join(dir, DATA_FILE),
      noSubdir: true,
      maxDbs: TABLE_NAMES.length + 2,
      keyEncoding: "binary",
      encoding: "binary",
      // Never let LMDB write uninitialised heap memory into the file (docs/storage.md).
      noMemInit: false,
      noSync: opts.noSync === true,
      readOnly: opts.readOnly === true,
      // Not `encryptionKey`: one env-wide key cannot erase a single message.
    });
    const tables = {} as Tables;
    for (const name of TABLE_NAMES) {
      tables[name] = root.openDB<Uint8Array, Uint8Array>({
        name,
        keyEncoding: "binary",
        encoding: "binary",
      });
    }
    return { root, tables };
  } catch (err) {
    throw asStorageError(err, `open LMDB in ${dir}`);
  }
}
