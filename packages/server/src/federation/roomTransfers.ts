// Kept whole at ~580 lines: one state machine whose two sides (the authority handing a room
// over, a voter or new authority taking it) share the term records and the in-flight maps
// (failover.ts, candidacy.ts, handovers.ts and logMatch.ts hold what could be taken out).
/**
 * Moving a room's authority between real hubs (DESIGN §11, issue 18): the hub side of the
 * rules in federation/authority/ (decideVote, VoteCollector, adoptCertificate — the same
 * rules the harness's RoomAuthorityEngine runs), over the room's real log.
 *
 * The room's sequencer (sequencer/roomSequencer.ts) stays the one that decides order, and
 * the log a voter holds is the replica the authority's position-signed frames built
 * (replica.ts). A planned transfer:
 *  1. the authority proposes (term+1, from itself, to a voter, its log position, the
 *     voters = hubs with a member device, and itself) and votes for it: from then on every
 *     write to the room is answered TRANSFERRING with a retry hint (routing and the
 *     sequencer alike), so nothing more enters its log;
 *  2. each voter persists its vote (termRecords.ts, the audit chain) before answering;
 *  3. a majority makes the certificate: the authority adopts it, waits until everything it
 *     accepted is durable and sent to the replicas, then sends the certificate to every
 *     voter and, to the new authority, the handover (where its log ends, the room's state
 *     and metadata); the book (authorityBook.ts) now names the new authority, so the old
 *     one forwards its users' requests there;
 *  4. the new authority, once its replica holds the whole log, stores the room's state,
 *     has its shard restore the room's sequencer from it, continues at the next log_index
 *     in the new term and says so (AUTHORITY_COMMIT) to every voter.
 * A proposal that finds no majority before it expires gives the room back to the
 * authority (a new authority waits for the old one's handover, so this cannot fork).
 */
import {
  canary,
  decodePayload,
  type Frame,
  hubFrame,
  Opcode,
  type ProtocolErrorCode,
} from "@kalandra/proto";
import {
  certFrame,
  certOf,
  proposalOf,
  proposeFrame,
  voteAnswerOf,
  voteFrame,
} from "./authority/authorityFrames.js";
import {
  type HandoverCertificate,
  NONCE_BYTES,
  type Proposal,
  proposalHash,
  StatementFormatError,
} from "./authority/statement.js";
import {
  adoptCertificate,
  decideVote,
  initialRecord,
  type TermRecord,
  VoteCollector,
  type VoterView,
} from "./authority/termState.js";
import { Candidacy, promisedAbove } from "./candidacy.js";
import { Failovers } from "./failover.js";
import { handoverOf, resendHandovers } from "./handovers.js";
import { HeldLog } from "./heldLog.js";
import type {
  AuthorityRole,
  Incoming,
  Outgoing,
  RoomAuthorityStatus,
  TransferHost,
  TransferResult,
} from "./transferTypes.js";
import { anchorOf, checkLink } from "./trust/termChain.js";

export type { AuthorityRole, RoomAuthorityStatus, TransferHost, TransferResult };

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

const lost = (code: ProtocolErrorCode, message: string): TransferResult => ({
  ok: false,
  code,
  message,
});

export class RoomTransfers {
  readonly #outgoing = new Map<bigint, Outgoing>();
  readonly #incoming = new Map<bigint, Incoming>();
  /** Rooms whose successor in a planned transfer from here said it sequences (in memory). */
  readonly #handedOff = new Set<bigint>();
  readonly #failovers: Failovers;
  readonly #candidacy: Candidacy;
  /** Where this hub's log of each room ends, its shard's copy included (votes, candidacy). */
  readonly held: HeldLog;

  constructor(readonly h: TransferHost) {
    this.held = new HeldLog(h);
    this.#failovers = new Failovers(this);
    this.#candidacy = new Candidacy(h.self, h.clock, 2 * h.failoverAfterMs);
  }

  /** A transfer or election of the room is under way here (failover.ts). */
  busy(roomId: bigint): boolean {
    return this.#outgoing.has(roomId) || this.#incoming.has(roomId);
  }

  /** Marks this hub's election of the room won (failover.ts); false when there is none. */
  certified(roomId: bigint, cert: HandoverCertificate): boolean {
    const out = this.#outgoing.get(roomId);
    if (out === undefined) return false;
    out.cert = cert;
    return true;
  }

  /** A voter of a room this hub sequences promised `term`, above the room's (failover.ts). */
  reclaim(roomId: bigint, term: bigint): void {
    this.#failovers.reclaim(roomId, term);
  }

  /** A peer's link came up: it learns the term of every room this hub took over. */
  linkUp(domain: string): void {
    this.#failovers.linkUp(domain);
    void resendHandovers(this.h, domain, (roomId) => this.#outgoing.has(roomId));
  }

  /** The room's record: the stored one, or term 0 under the authority the book knows. */
  record(roomId: bigint): TermRecord | undefined {
    const stored = this.h.records.get(roomId);
    if (stored !== undefined) return stored;
    const a = this.h.book.authorityOf(roomId);
    if (a !== undefined) return { ...initialRecord(roomId, a.domain), term: a.term };
    return this.h.storage.getRoom(roomId) === undefined
      ? undefined
      : initialRecord(roomId, this.h.self);
  }

  /**
   * The record, or term 0 under this hub for a room that never moved and that its shard
   * sequences (with worker shards the main storage does not hold such a room).
   */
  async recordHere(roomId: bigint): Promise<TermRecord | undefined> {
    const rec = this.record(roomId);
    if (rec !== undefined) return rec;
    const here = (await this.h.local()?.handoverOf?.(roomId)) !== undefined;
    return here ? (this.record(roomId) ?? initialRecord(roomId, this.h.self)) : undefined;
  }

  status(roomId: bigint): RoomAuthorityStatus | undefined {
    const rec = this.record(roomId);
    if (rec === undefined) return undefined;
    const out = this.#outgoing.get(roomId);
    let role: AuthorityRole = rec.authority === this.h.self ? "sequencer" : "replica";
    // After a restart the transfer in flight is gone, the log it hands over is not: handing
    // over still, until the successor says it sequences (fed_hubs_transfer seed 214).
    if (this.#handingSinceRestart(roomId, rec)) role = "handing_over";
    // Elected (its record names it) but not sequencing yet: the room is installed, and the
    // book names it, only once its replica holds the whole log (fed_hubs_transfer seed 214:
    // taken for the authority while persisting the certificate, with one entry less).
    const a = this.h.book.authorityOf(roomId);
    const installed = rec.term === 0n || (a?.domain === this.h.self && a.term === rec.term);
    if (role === "sequencer" && !installed) role = "awaiting_handover";
    if (out?.cert !== undefined) role = "handing_over";
    else if (this.#incoming.has(roomId)) role = "awaiting_handover";
    return {
      authority: rec.authority,
      term: rec.term,
      role,
      commitIndex: this.h.storage.nextIndex(roomId),
    };
  }

  #handingSinceRestart(roomId: bigint, rec: TermRecord): boolean {
    const p = rec.certificate?.proposal;
    if (p?.kind !== "planned" || p.from !== this.h.self || p.to !== rec.authority) return false;
    return !this.#handedOff.has(roomId) && !this.#outgoing.has(roomId);
  }

  /** The retry hint while writes to the room are refused here (TRANSFERRING). */
  transferring(roomId: bigint): bigint | undefined {
    return this.#outgoing.has(roomId) || this.#incoming.has(roomId)
      ? this.h.retryAfterMs
      : undefined;
  }

  /** Starts a planned transfer of a room this hub sequences to the voter `to`. */
  async transfer(roomId: bigint, to: string): Promise<TransferResult> {
    // A room that never moved is known to the main storage only with in-process shards;
    // a worker shard holds it in its own (the shard's handover says it is here).
    const rec = await this.recordHere(roomId);
    if (rec === undefined) return lost("UNKNOWN_ROOM", `no room ${roomId}`);
    if (rec.authority !== this.h.self) {
      return lost("NOT_AUTHORITY", `${rec.authority} is the room's authority`);
    }
    if (this.transferring(roomId) !== undefined) {
      return lost("TRANSFERRING", "the room is already being transferred");
    }
    if (to === this.h.self) return lost("FORBIDDEN", "this hub is the room's authority already");
    if (!this.h.isUp(to)) return lost("PEER_UNREACHABLE", `no link to ${to}`);
    const voters = await this.voters(roomId);
    if (voters === undefined) return lost("UNKNOWN_ROOM", `no room ${roomId} sequenced here`);
    if (!voters.includes(to)) {
      return lost("FORBIDDEN", `${to} is not a voter of the room (no member device there)`);
    }
    if (this.transferring(roomId) !== undefined) {
      return lost("TRANSFERRING", "the room is already being transferred");
    }
    const proposal: Proposal = {
      roomId,
      term: maxBig(rec.term, rec.vote?.term ?? 0n) + 1n,
      from: this.h.self,
      to,
      proposer: this.h.self,
      position: this.h.storage.nextIndex(roomId),
      lastTerm: rec.term,
      voters,
      nonce: this.h.rng.bytes(NONCE_BYTES),
      kind: "planned",
    };
    return this.startElection(roomId, rec, proposal);
  }

  /**
   * Votes for `proposal` (persisted: from then on the room takes no write here,
   * TRANSFERRING), then asks the other voters; resolves when the election ends.
   */
  async startElection(
    roomId: bigint,
    rec: TermRecord,
    proposal: Proposal,
  ): Promise<TransferResult> {
    const now = this.h.clock.now();
    const result = new Promise<TransferResult>((resolve) => {
      this.#outgoing.set(roomId, {
        proposal,
        collector: new VoteCollector(proposal, (d) => this.h.keyOf(d)),
        answered: new Set([this.h.self]),
        expiresAt: now + BigInt(2 * this.h.failoverAfterMs),
        lastSent: now,
        done: resolve,
      });
    });
    const own = decideVote(rec, proposal, this.view(roomId, proposal.voters));
    if (own.kind !== "vote") {
      this.finish(roomId, lost("STALE_TERM", `this hub cannot vote for term ${proposal.term}`));
      return result;
    }
    await this.h.records.put(own.record, "proposal", { to: proposal.to, kind: proposal.kind });
    this.count(roomId, own.vote);
    for (const v of proposal.voters) {
      if (v !== this.h.self) this.h.send(v, proposeFrame(this.h.signer, proposal));
    }
    return result;
  }

  /** An authority frame from a peer (its hub signature checked against `from`'s key). */
  async onFrame(from: string, frame: Frame): Promise<void> {
    const h = frame.header;
    try {
      switch (h.opcode) {
        case Opcode.AUTHORITY_PROPOSE:
          return await this.onPropose(from, h.roomId, frame);
        case Opcode.AUTHORITY_VOTE:
          return this.onVote(from, h.roomId, frame);
        case Opcode.HANDOVER_CERT:
          return await this.onCertificate(from, h.roomId, frame);
        case Opcode.AUTHORITY_COMMIT:
          return this.onCommit(from, h.roomId, frame);
      }
    } catch (e) {
      if (e instanceof StatementFormatError) return this.h.count("BAD_PAYLOAD");
      throw e;
    }
  }

  /** Periodic work: resends, expiry, a handover waiting for the log's end. */
  tick(): void {
    const now = this.h.clock.now();
    for (const [roomId, out] of this.#outgoing) {
      if (out.cert === undefined && now >= out.expiresAt) {
        this.finish(roomId, {
          ok: false,
          code: "PEER_UNREACHABLE",
          message: "no majority of voters answered in time",
        });
        continue;
      }
      if (now - out.lastSent < this.h.retryAfterMs) continue;
      out.lastSent = now;
      if (out.cert === undefined) {
        for (const v of out.proposal.voters) {
          if (!out.answered.has(v)) this.h.send(v, proposeFrame(this.h.signer, out.proposal));
        }
      } else if (out.handover !== undefined) {
        // Never the certificate alone: the new authority could not install the room from it.
        this.h.send(out.proposal.to, certFrame(this.h.signer, out.cert, out.handover));
      }
    }
    for (const roomId of this.#incoming.keys()) void this.tryInstall(roomId);
    this.#failovers.due(now);
  }

  private async onPropose(from: string, roomId: bigint, frame: Frame): Promise<void> {
    const p = proposalOf(roomId, decodePayload(Opcode.AUTHORITY_PROPOSE, frame.payload));
    // The proposer signs its proposal's frame: nobody proposes in another hub's name.
    if (p.proposer !== from) return this.h.count("FORBIDDEN");
    this.#failovers.see(roomId, p.term);
    const hash = proposalHash(p);
    const answer = { roomId, term: p.term, hash, voter: this.h.self, logIndex: p.position };
    // With shards on their own storage, a failover vote waits for where the shard's copy ends.
    const reading = p.kind === "failover" ? this.held.read(roomId) : undefined;
    if (reading !== undefined) await reading;
    const rec = this.record(roomId);
    if (p.kind === "failover" && rec !== undefined && this.#candidacy.standing(rec)) {
      // This hub sequences the room, or is taking it (installing a term it won, electing
      // itself, named by a planned transfer), and answers: its authority is not gone. Were it
      // to promise a higher term now, it could still sequence in its own lower one, counting
      // itself towards a commit point after promising that term's winner its log. (With
      // worker shards its main storage does not even hold the log a vote would compare.)
      const cert = rec.certificate;
      const refusal = {
        approve: false as const,
        refusal: "STALE_TERM" as const,
        ...(cert ? { cert } : {}),
      };
      this.h.send(from, voteFrame(this.h.signer, answer, refusal));
      return;
    }
    if (rec === undefined) {
      // A room this hub holds nothing of: it is no voter of it.
      const refusal = { approve: false as const, refusal: "NOT_VOTER" as const };
      this.h.send(from, voteFrame(this.h.signer, answer, refusal));
      return;
    }
    // A planned transfer's voters are the sitting authority's to say (it holds the members);
    // a failover's must be those the authority last listed to this hub.
    const voters = p.kind === "planned" ? p.voters : (this.h.facts.voters(roomId) ?? p.voters);
    const d = decideVote(rec, p, this.view(roomId, voters));
    if (d.kind === "refused") {
      // The proposer learns of a term above its log's (a deposed authority reclaiming a room
      // it does not know it lost: fed_hubs_churn seed 90), or the one it proposes again.
      const known = rec.term >= p.term || rec.term > p.lastTerm;
      const cert = rec.certificate !== undefined && known ? rec.certificate : undefined;
      const refusal = { approve: false as const, refusal: d.code, ...(cert ? { cert } : {}) };
      this.h.send(from, voteFrame(this.h.signer, answer, refusal));
      return;
    }
    if (p.kind === "failover" && !d.repeated && this.held.end(roomId) === undefined) {
      // Its shard's copy runs past its replica (it sequenced the room) and it cannot tell
      // which of those entries the room kept: the candidate may lack some (heldLog.ts).
      const refusal = { approve: false as const, refusal: "CANDIDATE_BEHIND" as const };
      this.h.send(from, voteFrame(this.h.signer, answer, refusal));
      return;
    }
    if (p.kind === "planned" && p.to === this.h.self) this.#candidacy.named(roomId);
    // Persisted before it is sent: a restart can never vote again in this term.
    if (!d.repeated) await this.h.records.put(d.record, "vote", { to: p.to, proposer: from });
    this.h.send(from, voteFrame(this.h.signer, answer, { approve: true, vote: d.vote }));
  }

  private onVote(from: string, roomId: bigint, frame: Frame): void {
    const m = decodePayload(Opcode.AUTHORITY_VOTE, frame.payload);
    const out = this.#outgoing.get(roomId);
    if (out === undefined || out.cert !== undefined || m.term !== out.proposal.term) return;
    if (m.voter !== from) {
      this.h.count("FORBIDDEN");
      return;
    }
    const a = voteAnswerOf(m);
    out.answered.add(from);
    if (a.approve) {
      this.count(roomId, a.vote);
      return;
    }
    this.#failovers.see(roomId, m.term);
    // A term this hub has not adopted: its chain is asked of the voter (termFetch.ts).
    const above = a.cert?.proposal.term ?? 0n;
    if (above > (this.record(roomId)?.term ?? 0n)) this.h.claimed(from, roomId, above);
    out.collector.refuse(from, a.refusal);
    if (out.collector.lost) {
      this.finish(roomId, {
        ok: false,
        code: a.refusal === "ALREADY_VOTED" ? "ALREADY_VOTED" : "STALE_TERM",
        message: `the voters refused the transfer (${a.refusal})`,
      });
    }
  }

  private count(roomId: bigint, vote: Parameters<VoteCollector["add"]>[0]): void {
    const out = this.#outgoing.get(roomId);
    const cert = out?.collector.add(vote);
    if (cert === undefined) return;
    if (promisedAbove(this.record(roomId), cert.proposal.term)) {
      // Won a term below one this hub voted for since: that term's candidate was promised
      // this hub's log as it was, so nothing more may be sequenced in the lower term.
      this.finish(roomId, lost("STALE_TERM", "this hub promised a higher term"));
      return;
    }
    if (cert.proposal.kind === "planned") void this.handOver(roomId, cert);
    else void this.#failovers.takeOver(roomId, cert);
  }

  /** The certificate formed here: adopt it, let the log settle, hand the room over. */
  private async handOver(roomId: bigint, cert: HandoverCertificate): Promise<void> {
    const out = this.#outgoing.get(roomId);
    if (out === undefined) return;
    out.cert = cert;
    await this.adopt(roomId, cert);
    // Everything accepted before the proposal is durable and on its way to the replicas
    // (the links keep order): the certificate follows the last frame.
    const local = this.h.local();
    await local?.settle?.();
    const handover = await handoverOf(this.h, roomId);
    if (handover === undefined) return; // stays handing over: no hub can take the room
    out.handover = handover;
    const p = cert.proposal;
    await this.h.book.learn(roomId, p.to, p.term);
    out.lastSent = this.h.clock.now();
    for (const v of p.voters) {
      if (v === this.h.self) continue;
      this.h.send(v, certFrame(this.h.signer, cert, v === p.to ? out.handover : undefined));
    }
  }

  private async onCertificate(from: string, roomId: bigint, frame: Frame): Promise<void> {
    const { cert, handover } = certOf(decodePayload(Opcode.HANDOVER_CERT, frame.payload));
    const p = cert.proposal;
    if (p.roomId !== roomId) return this.h.count("BAD_PAYLOAD");
    if (!(await this.adopt(roomId, cert))) return;
    this.#candidacy.settled(roomId);
    if (p.to !== this.h.self) {
      // Another hub won this term: a proposal of this hub's at or below it is void.
      const mine = this.#outgoing.get(roomId);
      if (mine?.cert === undefined && mine !== undefined && mine.proposal.term <= p.term) {
        this.finish(roomId, lost("STALE_TERM", "another hub won this term"));
      } else if (mine?.cert !== undefined && mine.proposal.term < p.term) {
        // Handing over, and a later term came first (the successor had promised a higher
        // term, and proposed itself above it): the handover is over. What this hub held for
        // its users is delivered if that term's winner is its successor (whose log is the
        // one handed over), else dropped (their retries are answered by the winner).
        const to = mine.proposal.to;
        if (p.to === to) this.h.handedOver(roomId, p.term);
        else this.h.deposed(roomId);
        this.finish(
          roomId,
          p.to === to
            ? { ok: true, term: mine.proposal.term }
            : lost("STALE_TERM", `${p.to} won a later term`),
        );
      }
      await this.h.book.learn(roomId, p.to, p.term);
      return;
    }
    // The new authority: its book names it only once it sequences the room (installed).
    if (handover === undefined || from !== p.from || p.kind !== "planned") return;
    const a = this.h.book.authorityOf(roomId);
    if (a?.domain === this.h.self && a.term === p.term) {
      this.announce(roomId, p, handover.nextIndex); // a resent certificate: said again
      return;
    }
    if (!this.#incoming.has(roomId))
      this.#incoming.set(roomId, { cert, handover, installing: false });
    await this.tryInstall(roomId);
  }

  /**
   * Adopts a valid certificate of a higher term (persisted); false when it is not one, or
   * when it is not anchored in what this hub knows of the room (trust/termChain.ts).
   */
  async adopt(roomId: bigint, cert: HandoverCertificate): Promise<boolean> {
    const rec = this.record(roomId) ?? initialRecord(roomId, cert.proposal.from);
    const keys = (x: string) => this.h.keyOf(x);
    const d = adoptCertificate(rec, cert, keys);
    if (d.kind === "invalid") {
      this.h.count("BAD_HUB_SIGNATURE");
      return false;
    }
    if (
      d.kind === "adopted" &&
      !checkLink(cert, anchorOf(rec, this.h.facts.voters(roomId)), keys).ok
    ) {
      this.h.count("UNVERIFIED_TERM");
      return false;
    }
    if (d.kind === "known") return rec.term === cert.proposal.term;
    const p = cert.proposal;
    // Audited as this hub's deposition when another hub took the room it sequenced.
    const deposed = p.kind === "failover" && d.previous === this.h.self && p.to !== this.h.self;
    // canary: simulation-only planted bug (issue 18), a deposed authority that adopts its
    // successor's certificate and keeps sequencing, in the new term, as if it were its own.
    if (deposed && canary("deposed_keeps_sequencing")) {
      await this.h.records.put({ ...d.record, authority: this.h.self }, "deposed", {});
      await this.h.book.learn(roomId, this.h.self, p.term);
      return true;
    }
    if (deposed) this.h.deposed(roomId);
    await this.h.records.put(d.record, deposed ? "deposed" : "transfer", {
      from: d.previous,
      to: p.to,
      kind: p.kind,
      votes: cert.votes.map((v) => v.voter),
    });
    // A planned transfer is proposed by the sitting authority, in its term (its voters
    // checked it is theirs): a hub that missed that term learns who sequences until the
    // handover, or it ignores the tail it must fetch from there (fed_hubs_transfer seed 156).
    if (p.kind === "planned") await this.h.book.learn(roomId, p.from, p.lastTerm);
    return true;
  }

  /** The new authority takes the room once its replica holds the old one's whole log. */
  private async tryInstall(roomId: bigint): Promise<void> {
    const inc = this.#incoming.get(roomId);
    if (inc === undefined || inc.installing) return;
    inc.installing = true;
    try {
      await this.h.replicaSettled(roomId);
      const head = this.h.storage.nextIndex(roomId);
      if (head < inc.handover.nextIndex) this.askTail(roomId, inc);
      if (head !== inc.handover.nextIndex) return; // not yet (or a fork: never installed)
      const { handover } = inc;
      // Its own entries from here on are of the new term (how complete its log is, later).
      await this.h.facts.takeTerm(roomId, inc.cert.proposal.term, head);
      const refused = await this.h.local()?.installRoom?.({
        meta: {
          roomId,
          createdAt: handover.createdAt,
          settings: {},
          ...(handover.creator === undefined ? {} : { creator: handover.creator }),
        },
        roomState: handover.roomState,
        nextIndex: head,
      });
      if (refused !== undefined) return;
      await this.h.book.learn(roomId, this.h.self, inc.cert.proposal.term);
      this.#incoming.delete(roomId);
      this.announce(roomId, inc.cert.proposal, head);
    } finally {
      inc.installing = false;
    }
  }

  /**
   * The replica lacks the end of the log being handed over (a frame lost with a link): the
   * old authority is asked for it (no new frame would reveal the gap: it takes no writes).
   */
  private askTail(roomId: bigint, inc: Incoming): void {
    const now = this.h.clock.now();
    if (inc.askedAt !== undefined && now - inc.askedAt < this.h.retryAfterMs) return;
    inc.askedAt = now;
    this.h.catchUp(inc.cert.proposal.from, roomId);
  }

  announce(roomId: bigint, p: Proposal, nextIndex: bigint): void {
    const frame = hubFrame(this.h.signer, Opcode.AUTHORITY_COMMIT, roomId, 0n, {
      term: p.term,
      authority: this.h.self,
      next_index: nextIndex,
    });
    for (const v of p.voters) if (v !== this.h.self) this.h.send(v, frame);
  }

  private onCommit(from: string, roomId: bigint, frame: Frame): void {
    const m = decodePayload(Opcode.AUTHORITY_COMMIT, frame.payload);
    if (m.authority !== from) {
      this.h.count("FORBIDDEN");
      return;
    }
    const rec = this.h.records.get(roomId);
    if (rec?.term === m.term && rec.authority === from) {
      this.#handedOff.add(roomId);
      void this.h.book.learn(roomId, from, m.term).then(() => this.#failovers.giveWay(roomId, m));
    }
    // A term this hub missed the certificate of (a link down during the transfer): proven
    // only by the chain, which is asked; the commit itself proves nothing.
    if (rec !== undefined && m.term > rec.term) this.h.claimed(from, roomId, m.term);
    const out = this.#outgoing.get(roomId);
    if (out?.cert === undefined) return;
    const p = out.cert.proposal;
    if (p.to !== from || m.term !== p.term) return;
    this.h.handedOver(roomId, m.term);
    this.finish(roomId, { ok: true, term: p.term });
  }

  finish(roomId: bigint, r: TransferResult): void {
    const out = this.#outgoing.get(roomId);
    this.#outgoing.delete(roomId);
    out?.done(r);
  }

  /** The room's voters: hubs with a member device, and this hub (its authority). */
  private async voters(roomId: bigint): Promise<string[] | undefined> {
    const domains = await this.h.local()?.memberDomains?.(roomId);
    if (domains === undefined) return undefined;
    return [...new Set([...domains, this.h.self])].sort();
  }

  view(roomId: bigint, voters: readonly string[]): VoterView {
    // The log this hub holds (its shard's, after handing the room over); an unknown one
    // refuses failovers before this is asked (onPropose, failover.ts `due`).
    const position = this.held.end(roomId) ?? this.h.storage.nextIndex(roomId);
    return {
      self: this.h.self,
      voters,
      log: this.h.facts.votingLog(roomId, position),
      signer: this.h.signer,
    };
  }
}
