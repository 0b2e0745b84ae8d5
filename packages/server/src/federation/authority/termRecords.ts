/**
 * Each federated room's TermRecord (termState.ts) on a real hub, kept in the hub's audit
 * chain (LMDB in kalandrad, DESIGN §5): every change of a record (a vote cast, a
 * certificate adopted) is one audit record of kind `federation_term` holding the whole
 * encoded record, and the newest one per room is the record. So a record is durable once
 * `put` resolves, a vote is audited by the very write that persists it, and a hub that
 * restarts reads back the vote it cast: it never votes twice in a (room, term).
 *
 * Every certificate a record ever held is kept too (read back from the same audit records):
 * the room's chain of terms, which a hub that missed a transfer fetches (TERM_CHAIN,
 * trust/termFetch.ts) to believe a higher term.
 */
import { type Clock, toHex } from "@kalandra/proto";
import type { AuditRecord } from "../../storage/types.js";
import type { HandoverCertificate } from "./statement.js";
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
  /** Each room's certificates, terms ascending. */
  readonly #chains = new Map<bigint, HandoverCertificate[]>();

  constructor(private readonly d: TermRecordsDeps) {
    for (const r of d.storage.readAudit()) {
      if (r.kind !== TERM_AUDIT_KIND || r.roomId === undefined) continue;
      const hex = r.detail.record;
      if (typeof hex !== "string") continue;
      const rec = decodeTermRecord(fromHex(hex));
      this.#rooms.set(r.roomId, rec);
      this.#keep(rec);
    }
  }

  get(roomId: bigint): TermRecord | undefined {
    return this.#rooms.get(roomId);
  }

  /** The room's certificates of terms above `after`, ascending, at most `max`. */
  chain(roomId: bigint, after: bigint, max: number): HandoverCertificate[] {
    const all = this.#chains.get(roomId) ?? [];
    return all.filter((c) => c.proposal.term > after).slice(0, max);
  }

  #keep(rec: TermRecord): void {
    const cert = rec.certificate;
    if (cert === undefined) return;
    const chain = this.#chains.get(rec.roomId) ?? [];
    const last = chain[chain.length - 1];
    if (last !== undefined && last.proposal.term >= cert.proposal.term) return;
    chain.push(cert);
    this.#chains.set(rec.roomId, chain);
  }

  /**
   * Makes `rec` the room's record; resolves once it is durable. `event` names why (the
   * audit's `detail.event`: vote, transfer, ...), `detail` adds what an auditor reads.
   */
  async put(rec: TermRecord, event: string, detail: Record<string, unknown> = {}): Promise<void> {
    this.#rooms.set(rec.roomId, rec);
    this.#keep(rec);
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
