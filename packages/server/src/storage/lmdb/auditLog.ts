/**
 * The writer side of the audit chain (chain.ts) on the LMDB tables `audit` and `meta`.
 * `appendInTxn` runs inside the caller's write transaction, so an audit record commits
 * atomically with what it records (a secure delete writes its record in the same
 * transaction that erases the key reference). The head is kept in memory and in
 * `meta.audit_head`; after a failed transaction `reload` reads it back.
 */

import {
  type AuditHead,
  decodeHead,
  EMPTY_HEAD,
  encodeAuditRecord,
  encodeHead,
  hashRecord,
  verifyAuditChain,
} from "../../audit/chain.js";
import { copyBytes, u64Key } from "../keys.js";
import type { AuditRecord, AuditVerification } from "../types.js";
import { META, type Tables } from "./layout.js";
import { readAuditRecords, readAuditTable } from "./verifyLog.js";

export class AuditLog {
  private head: AuditHead = EMPTY_HEAD;

  constructor(private readonly t: Pick<Tables, "audit" | "meta">) {
    this.reload();
  }

  reload(): void {
    const bytes = this.t.meta.get(META.auditHead);
    this.head = bytes === undefined ? EMPTY_HEAD : decodeHead(copyBytes(bytes));
  }

  /**
   * Inside a write transaction: chains the record after the current head. Encodes before
   * writing, so a record that cannot be encoded fails without a partial write.
   */
  appendInTxn(record: AuditRecord): void {
    const bytes = encodeAuditRecord(this.head.hash, this.head.count, record);
    const head = { count: this.head.count + 1n, hash: hashRecord(bytes) };
    const key = u64Key(this.head.count);
    const headBytes = encodeHead(head);
    this.t.audit.putSync(key, bytes);
    this.t.meta.putSync(META.auditHead, headBytes);
    this.head = head;
  }

  read(): AuditRecord[] {
    return readAuditRecords(this.t);
  }

  verify(): AuditVerification {
    const { records, head } = readAuditTable(this.t);
    return verifyAuditChain(records, head);
  }
}
