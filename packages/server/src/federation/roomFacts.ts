/**
 * What a hub knows of a federated room's log beyond its entries (DESIGN §11): the room's
 * voters and this hub's member devices as the authority last listed them (who may sync
 * from the replica, also after a restart), and where each term's
 * entries start in the log, so the term of the log's last entry (how complete it is, with
 * its length) is known. Kept in the audit chain (kind `federation_room_facts`, the whole
 * record per change; the newest per room is read at start).
 *
 * A term's start is recorded before the first entry of that term is appended here (a live
 * frame: the term it came with; a catch-up page: the terms the authority's own record says,
 * FED_ENVELOPE `term_starts`), never later, and a record past the log's end says nothing of
 * it (`termAt` reads only starts below the length), so a crash in between changes nothing.
 *
 * How complete a log is for an election (`logTerm`) also counts the term whose starting log
 * this hub's log was found to hold (`reach`: the new authority's, or a replica's checked
 * against it up to the term's start), though no entry of that term is here yet. That is what
 * lets the authority of a term count an earlier term's entries as committed (majorityGate.ts):
 * each voter it counts has its term recorded, and so refuses a candidate of an earlier term
 * whose log conflicts (Raft's "Figure 8", Ongaro §5.4.2; Viewstamped Replication compares
 * logs by the last view a replica was in step with, the same idea).
 */
import type { Clock } from "@kalandra/proto";
import type { AuditRecord } from "../storage/types.js";

export const FACTS_AUDIT_KIND = "federation_room_facts";

interface Facts {
  voters?: readonly string[];
  /** This hub's member devices of the room, as the authority last listed them (replicas). */
  members?: readonly bigint[];
  /** (term, first log_index of the term), terms ascending; term 0 starts at 0. */
  starts: Starts;
  /** The latest term whose starting log (its first `start` entries) this hub's log holds. */
  reached?: readonly [bigint, bigint];
  /** A log given up for the one of this term's authority: votes stand for that log. */
  floor?: bigint;
}

export interface RoomFactsDeps {
  storage: { appendAudit(r: AuditRecord): Promise<void>; readAudit(): AuditRecord[] };
  clock: Clock;
  self: string;
}

export class RoomFacts {
  readonly #rooms = new Map<bigint, Facts>();

  constructor(private readonly d: RoomFactsDeps) {
    for (const r of d.storage.readAudit()) {
      if (r.kind !== FACTS_AUDIT_KIND || r.roomId === undefined) continue;
      const { voters, starts, members, reached, floor } = r.detail;
      if (!Array.isArray(starts)) continue;
      this.#rooms.set(r.roomId, {
        ...(Array.isArray(voters) ? { voters: voters.map(String) } : {}),
        ...(Array.isArray(members) ? { members: members.map((m) => BigInt(m)) } : {}),
        starts: starts.map((s) => [BigInt(s[0]), BigInt(s[1])] as const),
        ...(Array.isArray(reached) ? { reached: [BigInt(reached[0]), BigInt(reached[1])] } : {}),
        ...(typeof floor === "string" ? { floor: BigInt(floor) } : {}),
      });
    }
  }

  voters(roomId: bigint): readonly string[] | undefined {
    return this.#rooms.get(roomId)?.voters;
  }

  /** Records the room's voters (resolves once durable); false when they did not change. */
  async setVoters(roomId: bigint, voters: readonly string[]): Promise<boolean> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    if (f.voters !== undefined && f.voters.join() === voters.join()) return false;
    await this.#put(roomId, { ...f, voters: [...voters] });
    return true;
  }

  members(roomId: bigint): readonly bigint[] | undefined {
    return this.#rooms.get(roomId)?.members;
  }

  /** Records this hub's member devices of the room (durable on return) when they changed. */
  async setMembers(roomId: bigint, members: readonly bigint[]): Promise<void> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    const sorted = [...members].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (f.members !== undefined && f.members.join() === sorted.join()) return;
    await this.#put(roomId, { ...f, members: sorted });
  }

  /** The last term recorded (0 when none). */
  lastTerm(roomId: bigint): bigint {
    const starts = this.#rooms.get(roomId)?.starts ?? [];
    return starts.length === 0 ? 0n : starts[starts.length - 1]![0];
  }

  /** Term of the last entry of a log of `length` entries (0 for an empty log). */
  termAt(roomId: bigint, length: bigint): bigint {
    let term = 0n;
    for (const [t, start] of this.#rooms.get(roomId)?.starts ?? []) if (start < length) term = t;
    return term;
  }

  /**
   * How complete a log of `length` entries is for an election: the term of its last entry,
   * or the term whose starting log it holds (`reach`) when that is later.
   */
  logTerm(roomId: bigint, length: bigint): bigint {
    const term = this.termAt(roomId, length);
    const reached = this.#rooms.get(roomId)?.reached;
    return reached !== undefined && reached[1] <= length && reached[0] > term ? reached[0] : term;
  }

  /** Where `term`'s entries start as recorded here, undefined when it is not recorded. */
  startOf(roomId: bigint, term: bigint): bigint | undefined {
    if (term === 0n) return 0n;
    return this.starts(roomId).find(([t]) => t === term)?.[1];
  }

  /**
   * This hub's log holds the log the authority of `term` started it from (its first `start`
   * entries): recorded, durable on return, before the hub reports it to that authority's
   * commit point. Only a log checked against that authority's (or the authority's own).
   */
  async reach(roomId: bigint, term: bigint, start: bigint): Promise<void> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    if (f.reached !== undefined && f.reached[0] >= term) return;
    await this.#put(roomId, { ...f, reached: [term, start] });
  }

  /**
   * This hub sequences the room from `start` in `term`: its entries from there are of the
   * term, and its log is the term's starting log. Durable on return (one record).
   */
  async takeTerm(roomId: bigint, term: bigint, start: bigint): Promise<void> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    if (term <= this.lastTerm(roomId)) return this.reach(roomId, term, start);
    await this.#put(roomId, {
      ...f,
      starts: startFrom(f.starts, term, start),
      reached: [term, start],
    });
  }

  /** Entries from `start` on are of `term` (above every recorded one); durable on return. */
  async beginTerm(roomId: bigint, term: bigint, start: bigint): Promise<void> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    if (term <= this.lastTerm(roomId)) return;
    await this.#put(roomId, { ...f, starts: startFrom(f.starts, term, start) });
  }

  /** (term, first log_index of the term) as recorded, terms ascending (catch-up pages). */
  starts(roomId: bigint): Starts {
    return this.#rooms.get(roomId)?.starts ?? [];
  }

  /**
   * The entry at `logIndex` is of `term` (a live frame of the authority in that term, about
   * to be appended or held): recorded when the record said otherwise; durable on return.
   */
  async entryOf(roomId: bigint, term: bigint, logIndex: bigint): Promise<void> {
    const starts = this.starts(roomId);
    const past = starts.some(([, s]) => s > logIndex);
    if (!past && this.termAt(roomId, logIndex + 1n) === term) return;
    await this.#setStarts(roomId, [...starts.filter(([, s]) => s < logIndex), [term, logIndex]]);
  }

  /**
   * The entries from `from` to `end` come from a catch-up page of the authority whose log's
   * term starts are `theirs` (FED_ENVELOPE `term_starts`): they are of the terms that log says,
   * not of the authority's current term (a log fetched again and counted wholly as of the
   * current term looked more complete than it was, and won an election against a voter
   * holding an acknowledged entry it lacked: fed_hubs_failover). Durable on return.
   */
  async adoptStarts(roomId: bigint, from: bigint, end: bigint, theirs: Starts): Promise<void> {
    if (end <= from) return;
    let atFrom = 0n;
    for (const [t, s] of theirs) if (s <= from) atFrom = t;
    const own = this.starts(roomId).filter(([, s]) => s < from);
    // Only the page's entries: a start past them (the authority's own term, where it will
    // append) says nothing of what this hub appends there (fed_hubs_transfer seed 62).
    const inPage = theirs.filter(([, s]) => s > from && s < end);
    const next = [...own, [atFrom, from] as const, ...inPage];
    const same = (a: Starts) => a.map(([t, s]) => `${t}@${s}`).join();
    if (same(dedupe(next)) === same(this.starts(roomId))) return;
    await this.#setStarts(roomId, next);
  }

  /**
   * The log is given up for the one of the authority of `term` (fetched again with its term
   * starts): no entry left. Until it is fetched again this hub votes as if it held that
   * authority's starting log (`voteFloor`): the entries committed before are in it, and an
   * empty log would grant any candidate (fed_hubs_churn seed 266). Durable on return.
   */
  async forgetTerms(roomId: bigint, term: bigint): Promise<void> {
    const { reached: _, ...f } = this.#rooms.get(roomId) ?? { starts: [] };
    const floor = f.floor !== undefined && f.floor > term ? f.floor : term;
    await this.#put(roomId, { ...f, starts: [], floor });
  }

  /**
   * How complete this hub's log of `length` entries counts in its votes: as `logTerm` says,
   * or, while a log given up is fetched again, as the starting log of the term it was given
   * up for (any log of that term or later holds more; an empty one never does).
   */
  votingLog(roomId: bigint, length: bigint): { position: bigint; lastTerm: bigint } {
    const lastTerm = this.logTerm(roomId, length);
    const floor = this.#rooms.get(roomId)?.floor ?? 0n;
    return floor > lastTerm ? { position: 0n, lastTerm: floor } : { position: length, lastTerm };
  }

  async #setStarts(roomId: bigint, starts: Starts): Promise<void> {
    const f = this.#rooms.get(roomId) ?? { starts: [] };
    await this.#put(roomId, { ...f, starts: dedupe(starts) });
  }

  async #put(roomId: bigint, f: Facts): Promise<void> {
    this.#rooms.set(roomId, f);
    await this.d.storage.appendAudit({
      kind: FACTS_AUDIT_KIND,
      at: this.d.clock.now(),
      roomId,
      actor: `hub:${this.d.self}`,
      detail: {
        ...(f.voters === undefined ? {} : { voters: [...f.voters] }),
        ...(f.members === undefined ? {} : { members: f.members.map((m) => m.toString()) }),
        starts: f.starts.map(([t, s]) => [t.toString(), s.toString()]),
        ...(f.reached === undefined
          ? {}
          : { reached: [f.reached[0].toString(), f.reached[1].toString()] }),
        ...(f.floor === undefined ? {} : { floor: f.floor.toString() }),
      },
    });
  }
}

type Starts = readonly (readonly [bigint, bigint])[];

/** `starts` with `term` starting at `start`: a start at or before an earlier term's replaces it (those entries gave way). */
function startFrom(starts: Starts, term: bigint, start: bigint): Starts {
  return [...starts.filter(([, s]) => s < start), [term, start]];
}

/** Without the starts that say nothing: term 0 from the start, or the term before's again. */
function dedupe(starts: Starts): Starts {
  const out: (readonly [bigint, bigint])[] = [];
  let term = 0n;
  for (const [t, s] of starts) {
    if (t === term) continue;
    out.push([t, s]);
    term = t;
  }
  return out;
}
