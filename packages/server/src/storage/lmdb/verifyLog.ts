/**
 * Reading and verifying the audit table of a data directory. `verifyAuditLog(dir)` opens
 * the LMDB file read-only, so `kalandrad audit verify` can run beside a live hub or on a
 * copy of its directory.
 *
 * Table `audit`: key = record index (u64 BE), value = `prev ‖ CBOR body` (chain.ts).
 * `meta["audit_head"]` = count (u64 BE) ‖ hash of the last record.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  AuditFormatError,
  type AuditHead,
  decodeAuditRecord,
  decodeHead,
  verifyAuditChain,
} from "../../audit/chain.js";
import { StorageError } from "../errors.js";
import { copyBytes, readU64Key } from "../keys.js";
import type { AuditRecord, AuditVerification } from "../types.js";
import { DATA_FILE, META, openEnv, type Tables } from "./layout.js";

export interface AuditTable {
  records: { key: bigint; bytes: Uint8Array }[];
  head: AuditHead | undefined;
}

/** Every stored record in key order, copied out of LMDB, and the head kept beside them. */
export function readAuditTable(t: Pick<Tables, "audit" | "meta">): AuditTable {
  const records: { key: bigint; bytes: Uint8Array }[] = [];
  for (const { key, value } of t.audit.getRange()) {
    records.push({ key: key.length === 8 ? readU64Key(key) : -1n, bytes: copyBytes(value) });
  }
  const headBytes = t.meta.get(META.auditHead);
  let head: AuditHead | undefined;
  try {
    head = headBytes === undefined ? undefined : decodeHead(copyBytes(headBytes));
  } catch {
    head = { count: -1n, hash: new Uint8Array(32) };
  }
  return { records, head };
}

/** The decoded records; StorageError(CORRUPT) on a record that does not decode. */
export function readAuditRecords(t: Pick<Tables, "audit" | "meta">): AuditRecord[] {
  return readAuditTable(t).records.map(({ key, bytes }) => {
    try {
      return decodeAuditRecord(bytes).record;
    } catch (err) {
      if (err instanceof AuditFormatError) {
        throw new StorageError("CORRUPT", `audit record ${key}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  });
}

/** Verifies the audit chain of the data directory `dir` without opening it for writing. */
export async function verifyAuditLog(dir: string): Promise<AuditVerification> {
  if (!existsSync(join(dir, DATA_FILE))) {
    throw new StorageError("IO", `${dir} holds no ${DATA_FILE}`);
  }
  const env = openEnv(dir, { readOnly: true });
  try {
    const { records, head } = readAuditTable(env.tables);
    return verifyAuditChain(records, head);
  } finally {
    await env.root.close();
  }
}
