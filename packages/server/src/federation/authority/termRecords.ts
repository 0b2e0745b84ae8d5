/**
 * Each federated room's TermRecord (termState.ts) on a real hub, kept in the hub's audit
 * chain (LMDB in kalandrad, DESIGN §5): every change of a record (a vote cast, a
 * certificate adopted) is one audit record of kind `federation_term` holding the whole
 * encoded record, and the newest one per room is the record. So a record is durable once
 * `put` resolves, a vote is audited by the very write that persists it, and a hub that
 * restarts reads back the vote it cast: it never votes twice in a (room, term).
 */
import { type Clock, toHex } from "@kalandra/proto";
import type { AuditRecord } from "../../storage/types.js";
import { decodeTermRecord, encodeTermRecord, type TermRecord } from "./termState.js";

export const TERM_AUDIT_KIND = "federation_term";

export interface TermRecordsDeps {
  storage: { appendAudit(r: AuditRecord): Promise<void>; readAudit(): AuditRecord[] };
  clock: Clock;
  /** The hub's own domain (the audit actor). */
  self: string;
}

function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export class TermRecords {
  readonly #rooms = new Map<bigint, TermRecord>();

  constructor(private readonly d: TermRecordsDeps) {
    for (const r of d.storage.readAudit()) {
      if (r.kind !== TERM_AUDIT_KIND || r.roomId === undefined) continue;
      const hex = r.detail.record;
      if (typeof hex !== "string") continue;
      this.#rooms.set(r.roomId, decodeTermRecord(fromHex(hex)));
    }
  }

  get(roomId: bigint): TermRecord | undefined {
    return this.#rooms.get(roomId);
  }

  /**
   * Makes `rec` the room's record; resolves once it is durable. `event` names why (the
   * audit's `detail.event`: vote, transfer, ...), `detail` adds what an auditor reads.
   */
  async put(rec: TermRecord, event: string, detail: Record<string, unknown> = {}): Promise<void> {
    this.#rooms.set(rec.roomId, rec);
    await this.d.storage.appendAudit({
      kind: TERM_AUDIT_KIND,
      at: this.d.clock.now(),
      roomId: rec.roomId,
      actor: `hub:${this.d.self}`,
      detail: {
        event,
        term: rec.term.toString(),
        authority: rec.authority,
        ...detail,
        record: toHex(encodeTermRecord(rec)),
      },
    });
  }
}
