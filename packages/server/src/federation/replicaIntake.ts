/**
 * A participating hub's side of a replicated room (DESIGN §11): the authority's sequenced
 * frames are checked — position signature under the authority's pinned key, term not
 * below the known one, one authority per term, a term above the known one only once its
 * certificate chain is verified (trust/termFetch.ts holds the frames meanwhile) — then
 * position-checked into the replica (replica.ts) and fanned out to the local devices the
 * authority named; a gap is fetched
 * with a hub SYNC_REQUEST (one at a time per room). Sync is served from the replica to the
 * room's local members, as the authority last listed them.
 */
import {
  canary,
  decodeErrorPayload,
  decodePayload,
  Flag,
  type Frame,
  FrameHeader,
  hubFrame,
  Opcode,
  responseFrame,
  verifyPosition,
} from "@kalandra/proto";
import type { Outcome } from "../vocabulary/outcome.js";
import { refuse } from "../vocabulary/outcome.js";
import type { AuthorityBook } from "./authorityBook.js";
import type { RoomAuthority } from "./contract.js";
import type { Forwarding, PeerRequester } from "./forwarding.js";
import { LogMatch } from "./logMatch.js";
import { clipPage, ReplicaCommits } from "./majorityGate.js";
import { type FederationPorts, ownHeader, resign } from "./ports.js";
import type { RelayFilter } from "./relayFilter.js";
import type { PageEntry, ReplicaLog } from "./replica.js";
import type { RoomFacts } from "./roomFacts.js";

/** Entries a replica asks per catch-up page. */
export const CATCH_UP_LIMIT = 256;

export interface SyncPage {
  entries: PageEntry[];
  next: bigint;
  head: bigint;
}

/** Reads a page of a replicated room (sequencer/queries.ts `syncPage` over the main storage). */
export type SyncPageReader = (roomId: bigint, from: bigint, limit: number) => SyncPage;

/** The envelope fields of a sequenced frame. */
export interface Position {
  term?: bigint;
  position_sig?: Uint8Array;
  to?: bigint[];
  members?: bigint[];
  room_state?: Uint8Array;
  /** The sender's user, as the authority attributes it (relayFilter.ts). */
  user_id?: string;
  /** With a catch-up page: where each term starts in the authority's log. */
  term_starts?: { term: bigint; start: bigint }[];
}

/** What the intake is told besides its ports: the mode, the room facts, who sequences. */
export interface IntakeOptions {
  /** `ack_quorum = "majority"`. */
  majority: boolean;
  facts: RoomFacts;
  /** The room's authority and term as this hub's records say (itself for its own rooms). */
  authorityOf(roomId: bigint): RoomAuthority | undefined;
  /** This hub's bans over what it relays (relayFilter.ts). */
  filter: RelayFilter;
  /** A frame of a term above the record's: held while its chain is fetched (termFetch.ts). */
  unverified(domain: string, key: Uint8Array, inner: Frame, e: Position): void;
  /**
   * The hub this one takes for the room's authority says it is not: this hub missed a
   * transfer; its certificate chain is asked of that hub (termFetch.ts `claimed`).
   */
  missedTerm(domain: string, roomId: bigint): void;
  /**
   * The term this hub voted in last (its promise): an authority of a lower term gets no
   * entry accepted nor counted here any more, or it could commit an entry the term voted
   * for does not hold (fed_hubs_transfer seed 92).
   */
  promised(roomId: bigint): bigint;
  /** This hub hands the room over: its log is the one the new authority takes. */
  handingOver(roomId: bigint): boolean;
  /** The authority of `term` committed `commit` entries of this replica's log (majority). */
  committed?(roomId: bigint, term: bigint, commit: bigint): void;
}

export class ReplicaIntake {
  /** Local member devices of each replicated room, as the authority last listed them. */
  private readonly members = new Map<bigint, Set<bigint>>();
  /**
   * Rooms with a catch-up request in flight, and to whom: a request to a hub that is no
   * longer the authority is never answered, so one to the new authority goes out anyway.
   */
  private readonly catchingUp = new Map<bigint, string>();
  private requestId = 0;
  /** `ack_quorum = "majority"`: local fan-out waits for the authority's commit point. */
  private readonly commits: ReplicaCommits | undefined;
  /** The log checked against each new term's authority (logMatch.ts). */
  private readonly match: LogMatch;
  /** Commit points an authority told before this replica's log was checked in its term. */
  private readonly earlyCommits = new Map<bigint, { term: bigint; commit: bigint }>();
  /** Where the authority's current term starts, as it said (AUTHORITY_COMMIT, a page). */
  private readonly termStarts = new Map<bigint, { term: bigint; start: bigint }>();

  constructor(
    private readonly ports: FederationPorts,
    private readonly book: AuthorityBook,
    private readonly replica: ReplicaLog,
    private readonly o: IntakeOptions,
  ) {
    if (o.majority) this.commits = new ReplicaCommits((f, to) => this.fanOut(f, to));
    this.match = new LogMatch({
      replica,
      facts: o.facts,
      forgetHeld: (roomId) => this.commits?.forget(roomId),
    });
  }

  /**
   * A new term starts at `from` (AUTHORITY_COMMIT): a log that runs past it is given up and
   * fetched again from `domain`; resolves with how many entries were past it. A log that
   * ends before it catches up: the new authority may never sequence another entry to
   * reveal the gap (fed_hubs_failover seed 78).
   */
  async giveWay(domain: string, roomId: bigint, term: bigint, from: bigint): Promise<bigint> {
    this.termStarts.set(roomId, { term, start: from });
    const dropped = await this.match.discardPast(roomId, term, from);
    const head = this.replica.head(roomId);
    if (dropped > 0n) this.catchUp(domain, roomId, 0n);
    else if (head < from) this.catchUp(domain, roomId, head);
    // Majority mode: the new authority's commit point counts this log once it is reported
    // in its term; the term's first entry may never come (fed_hubs_transfer seed 35: the
    // log ended in a commit no client could see, so every write was STALE_EPOCH). Reported
    // only for a log checked against the new authority's: now, or after the check's page.
    else if (this.match.agreed(roomId, term)) await this.reportDurable(domain, roomId, term);
    else if (this.commits !== undefined) this.catchUp(domain, roomId, head);
    return dropped;
  }

  /**
   * The authority's commit point for a room (FED_LOG_STATE from `domain`). It speaks of the
   * authority's log: of this replica's only once that was found to agree with it in the
   * authority's term (logMatch.ts). Till then it is kept aside, or a deposed authority's
   * tail, still here, would be served to its devices as committed (fed_hubs_failover seed
   * 137).
   */
  committed(domain: string, roomId: bigint, commit: bigint): void {
    const a = this.book.authorityOf(roomId);
    if (a?.domain !== domain || this.commits === undefined) return;
    const early = this.earlyCommits.get(roomId);
    if (this.match.agreed(roomId, a.term)) this.applyCommit(roomId, a.term, commit);
    else if (early === undefined || early.term !== a.term || early.commit < commit) {
      this.earlyCommits.set(roomId, { term: a.term, commit });
    }
  }

  /** The log agrees with the authority's in `term` now: a commit point told before counts. */
  private checked(roomId: bigint, term: bigint): void {
    const early = this.earlyCommits.get(roomId);
    if (early === undefined || !this.match.agreed(roomId, term)) return;
    this.earlyCommits.delete(roomId);
    if (early.term === term) this.applyCommit(roomId, term, early.commit);
  }

  /** The commit point of the authority of `term`, for this replica's log (it agrees). */
  private applyCommit(roomId: bigint, term: bigint, commit: bigint): void {
    if (this.commits === undefined) return;
    this.commits.committed(roomId, commit);
    this.o.committed?.(roomId, term, this.commits.commit(roomId));
  }

  /**
   * This hub handed the room over with `commit` entries committed (its log is the room's up
   * to its end): its devices read them from the replica before the successor reports.
   */
  handedOver(roomId: bigint, commit: bigint): void {
    this.commits?.committed(roomId, commit);
  }

  /** The authority's commit point as last told (majority mode; undefined in local mode). */
  commit(roomId: bigint): bigint | undefined {
    return this.commits?.commit(roomId);
  }

  /** A frame `domain` sequenced (its link key `key`): checked into the replica, fanned out. */
  async sequenced(domain: string, key: Uint8Array, inner: Frame, e: Position): Promise<void> {
    const h = inner.header;
    const term = e.term ?? 0n;
    const wire = inner.toWire();
    if (!verifyPosition(key, term, wire, e.position_sig ?? new Uint8Array(0))) {
      return this.ports.count("BAD_HUB_SIGNATURE");
    }
    // No frame from a hub that is not the room's authority in its term (this hub included).
    const known = this.o.authorityOf(h.roomId);
    if (known !== undefined && term < known.term) {
      // A deposed authority that does not know it (back while no hub that would tell it is
      // up: fed_hubs_churn): told of the term as of a promise; it proposes above it and
      // learns the term from the voters' refusals (roomTransfers.ts).
      this.tellTerm(domain, h.roomId, known.term);
      return this.ports.count("STALE_TERM");
    }
    if (known !== undefined && term === known.term && known.domain !== domain) {
      return this.ports.count("NOT_AUTHORITY");
    }
    const promised = this.o.promised(h.roomId);
    if (term < promised) {
      // The authority learns of the promise (it takes the room in a higher term).
      this.tellTerm(domain, h.roomId, promised);
      return this.ports.count("STALE_TERM");
    }
    // A higher term is believed only on a certificate chain a majority of the voters this
    // hub knows signed (trust/termChain.ts), never on the sender's word: held till then.
    // canary: simulation-only planted bug (issue 18 (e)), a replica that takes any peer's
    // higher term and records it as the room's authority.
    if (term > (known?.term ?? 0n) && !canary("replica_trusts_unverified_term")) {
      return this.o.unverified(domain, key, inner, e);
    }
    await this.book.learn(h.roomId, domain, term);
    await this.o.filter.attribute(h.senderId, e.user_id, domain);
    if (e.members !== undefined) {
      this.members.set(h.roomId, new Set(e.members));
      void this.o.facts.setMembers(h.roomId, e.members); // kept for a restart, not awaited
    }
    if (!(await this.match.admit(h.roomId, term, wire, e.to ?? [], e.room_state))) {
      return this.catchUp(domain, h.roomId, this.replica.head(h.roomId));
    }
    this.checked(h.roomId, term);
    // Its term is recorded before it is appended (where it is, or once the gap is fetched).
    if (h.logIndex >= this.replica.head(h.roomId)) {
      await this.o.facts.entryOf(h.roomId, term, h.logIndex);
    }
    const v = await this.replica.accept(h.roomId, wire, e.to ?? [], e.room_state, term);
    if (v.kind === "refused") return this.ports.count(v.refusal.code);
    if (v.kind === "gap") return this.catchUp(domain, h.roomId, v.from);
    if (v.kind === "appended") for (const a of v.applied) this.deliver(h.roomId, a.frame, a.to);
    await this.reportDurable(domain, h.roomId, term);
  }

  /** Tells `domain`, sequencing the room in a lower term, of `term` (FED_LOG_STATE). */
  tellTerm(domain: string, roomId: bigint, term: bigint): void {
    const state = { term, durable: this.replica.head(roomId), commit: 0n };
    const frame = hubFrame(this.ports.signer, Opcode.FED_LOG_STATE, roomId, 0n, state);
    this.ports.send(domain, frame, {});
  }

  /**
   * Majority mode: tells the authority how much of the room's log is durable here. The
   * authority counts it only from where its term starts (majorityGate.ts): a log checked
   * against it that reached that start records the term as its own first (roomFacts.ts
   * `reach`), so this hub's votes from then on say so; a log that is not of the term
   * (neither reached its start nor holds an entry of it) claims nothing.
   */
  async reportDurable(domain: string, roomId: bigint, term: bigint): Promise<void> {
    if (this.commits === undefined) return;
    const head = this.replica.head(roomId);
    const start = this.termStarts.get(roomId);
    if (start?.term === term && head >= start.start && this.match.agreed(roomId, term)) {
      await this.o.facts.reach(roomId, term, start.start);
    }
    const durable = this.o.facts.logTerm(roomId, head) === term ? head : 0n;
    // Not counted towards a lower term's commit point once this hub voted higher: the
    // authority learns of the promise instead and takes the room in a higher term. Else a
    // room whose every write waits on that commit point never moves again (fed_hubs_transfer
    // seed 481: the log ended in a commit no client could see, all writes STALE_EPOCH).
    const promised = this.o.promised(roomId);
    const state = { term: term < promised ? promised : term, durable, commit: 0n };
    this.ports.send(
      domain,
      hubFrame(this.ports.signer, Opcode.FED_LOG_STATE, roomId, 0n, state),
      {},
    );
  }

  private deliver(roomId: bigint, frame: Uint8Array, to: readonly bigint[]): void {
    if (this.commits === undefined) this.fanOut(frame, to);
    else this.commits.offer(roomId, frame, to);
  }

  /**
   * The link to `domain`, the authority of `rooms`, came (back) up: what it sequenced while
   * the link was down was never sent here and a catch-up in flight died with the old link,
   * so each room is caught up from the replica's head (no later frame may come to reveal
   * the gap).
   */
  resume(domain: string, rooms: readonly bigint[]): void {
    for (const roomId of rooms) {
      this.catchingUp.delete(roomId);
      this.catchUp(domain, roomId, this.replica.head(roomId));
    }
  }

  /**
   * The link to `domain` went down: a catch-up asked of it is never answered (the next one
   * to it goes out, whoever the authority is by then: fed_hubs_failover seed 309).
   */
  linkDown(domain: string): void {
    for (const [roomId, asked] of this.catchingUp) {
      if (asked === domain) this.catchingUp.delete(roomId);
    }
  }

  /** This hub's member devices of a replicated room, as the authority last listed them. */
  localMembers(roomId: bigint): ReadonlySet<bigint> | undefined {
    return this.members.get(roomId);
  }

  /** The authority's answer to this hub's catch-up request. */
  async pageArrived(
    domain: string,
    inner: Frame,
    e: Pick<Position, "room_state" | "term_starts">,
  ): Promise<void> {
    const roomId = inner.header.roomId;
    this.catchingUp.delete(roomId);
    const authority = this.book.authorityOf(roomId);
    if (inner.header.opcode !== Opcode.SYNC_PAGE) {
      // Nothing else (no frame, no AUTHORITY_COMMIT) may ever tell this hub (fed_hubs_transfer
      // seed 348: its links were down during the transfer and the new authority's writes).
      const refusal = inner.header.opcode === Opcode.ERROR ? errorOf(inner) : undefined;
      if (refusal === "NOT_AUTHORITY" && authority?.domain === domain) {
        this.o.missedTerm(domain, roomId);
      }
      return;
    }
    if (authority?.domain !== domain) return;
    const page = decodePayload(Opcode.SYNC_PAGE, inner.payload);
    const before = this.replica.head(roomId);
    // Handing the room over, this hub's log is the room's until its successor sequences: a
    // page that disagrees with it is no reason to give it up (fed_hubs_transfer seed 398: b,
    // handing the room to c, asked c to catch up on a link up; c, which had handed the room
    // to b a term before, answered from its shorter log, and b dropped its whole log,
    // acknowledged entries included). A page that extends it is taken as any.
    const keep = this.o.handingOver(roomId);
    const check = await this.match.page(roomId, authority.term, before, page, keep);
    if (check === "discarded") return this.catchUp(domain, roomId, 0n);
    if (check === "kept") return;
    this.checked(roomId, authority.term);
    // The log agrees with the authority's up to the page's end: so do their entries' terms.
    // (A hub that sends no term starts: the page's entries count as of the authority's term.)
    if (e.term_starts === undefined) await this.o.facts.beginTerm(roomId, authority.term, before);
    else {
      const own = e.term_starts.find((s) => s.term === authority.term);
      if (own !== undefined) this.termStarts.set(roomId, { term: own.term, start: own.start });
      const theirs = e.term_starts.map((s) => [s.term, s.start] as const);
      await this.o.facts.adoptStarts(roomId, before, page.next, theirs);
    }
    for (const a of await this.replica.applyPage(roomId, page.entries, authority.term)) {
      this.deliver(roomId, a.frame, a.to);
    }
    // The state after the page's last entry, when that is where the authority's log ends.
    const end = page.entries.length === 0 ? undefined : page.next;
    const roomState = e.room_state;
    if (roomState !== undefined && end === page.head && this.replica.head(roomId) === end) {
      await this.replica.putState(roomId, roomState);
    }
    await this.reportDurable(domain, roomId, authority.term);
    const head = this.replica.head(roomId);
    if (head < page.head && head > before) this.catchUp(domain, roomId, head);
  }

  /**
   * SYNC_REQUEST of a local device on a replicated room: served from the replica to the
   * room's local members (as last listed, kept across a restart); before the authority
   * ever listed them, forwarded.
   */
  serveSync(
    sessionId: string,
    frame: Frame,
    from: PeerRequester,
    page: SyncPageReader,
    forwarding: Forwarding,
  ): Outcome {
    const h = frame.header;
    const kept = this.o.facts.members(h.roomId);
    const members = this.members.get(h.roomId) ?? (kept === undefined ? undefined : new Set(kept));
    const authority = this.book.authorityOf(h.roomId);
    if (members === undefined && authority !== undefined) {
      return forwarding.forward(sessionId, frame, from, authority.domain);
    }
    if (members === undefined || !members.has(from.senderId)) {
      return forwarding.refuse(sessionId, frame, refuse("NOT_MEMBER", "not a member of the room"));
    }
    const { from: start, limit } = decodePayload(Opcode.SYNC_REQUEST, frame.payload);
    const read = page(h.roomId, start, limit);
    // Majority mode: nothing past the authority's commit point (it may still give way).
    const p =
      this.commits === undefined ? read : (clipPage(read, this.commits.commit(h.roomId)) ?? read);
    const signer = this.ports.signer;
    // A banned sender's application frames stay in the log but reach no device of this hub.
    const entries = p.entries.map((e) => ({
      header: ownHeader(signer, e.header, e.payload),
      payload: this.o.filter.withholds(FrameHeader.view(e.header)) ? null : e.payload,
    }));
    this.ports.sink(
      { kind: "session", sessionId },
      responseFrame(signer, h, Opcode.SYNC_PAGE, { ...p, entries }),
    );
    return { ok: true };
  }

  private fanOut(frame: Uint8Array, to: readonly bigint[]): void {
    const f = FrameHeader.view(frame);
    const senderIds = to.filter((s) => s !== f.senderId);
    if (senderIds.length === 0 || this.o.filter.withholds(f)) return;
    const bytes = f.senderId === 0n ? resign(this.ports.signer, frame) : frame;
    this.ports.sink({ kind: "members", roomId: f.roomId, senderIds }, bytes);
  }

  /** Asks the authority for its log from `from` on, and the entry before (logMatch.ts). */
  private catchUp(domain: string, roomId: bigint, from: bigint): void {
    if (this.catchingUp.get(roomId) === domain) return;
    this.catchingUp.set(roomId, domain);
    const req = hubFrame(
      this.ports.signer,
      Opcode.SYNC_REQUEST,
      roomId,
      0n,
      { from: from > 0n ? from - 1n : 0n, limit: CATCH_UP_LIMIT },
      Flag.EXTERNAL,
      ++this.requestId,
    );
    this.ports.send(domain, req, {});
  }
}

/** The error code of a hub's ERROR answer, undefined when it is not one. */
function errorOf(inner: Frame): string | undefined {
  try {
    return decodeErrorPayload(inner.payload).name;
  } catch {
    return undefined;
  }
}
