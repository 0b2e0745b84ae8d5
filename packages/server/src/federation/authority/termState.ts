/**
 * A hub's durable knowledge about one room's authority (DESIGN §11), and the pure rules
 * that change it: which term the room is in and which hub sequences it, and the one vote
 * this hub cast for a higher term.
 *
 * The record is persisted before any answer that depends on it leaves the hub (a vote is
 * stored before it is sent), so a hub that crashes and restarts can never vote twice in a
 * term: that is what makes two certificates for one (room, term) impossible.
 */
import { bytesEqual, canary, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import {
  certificateFromMap,
  certificateToMap,
  type HandoverCertificate,
  type HubKeys,
  majority,
  type Proposal,
  proposalHash,
  StatementFormatError,
  signVote,
  type Vote,
  verifyCertificate,
  verifyVote,
  voteFromMap,
  voteToMap,
} from "./statement.js";

export interface TermRecord {
  roomId: bigint;
  /** The highest term this hub knows a certificate for (0: the creating hub's first term). */
  term: bigint;
  /** The hub that sequences the room in `term`. */
  authority: string;
  /** The certificate that made `authority` the authority of `term` (none for term 0). */
  certificate?: HandoverCertificate;
  /** The vote this hub cast in the highest term it voted in (its promise for that term). */
  vote?: { term: bigint; cast: Vote };
}

/** The record of a room created on `authority`: term 0, no certificate, no vote. */
export function initialRecord(roomId: bigint, authority: string): TermRecord {
  return { roomId, term: 0n, authority };
}

/** How complete a log is: its length and the term of its last entry (0 when empty). */
export interface LogPosition {
  position: bigint;
  lastTerm: bigint;
}

/** Orders logs as DESIGN §11 failover needs: a later last term wins, then the longer log. */
export function compareLogs(a: LogPosition, b: LogPosition): number {
  if (a.lastTerm !== b.lastTerm) return a.lastTerm < b.lastTerm ? -1 : 1;
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return 0;
}

export type VoteRefusal =
  | "STALE_TERM" // the proposal's term is not above what this hub knows or promised
  | "ALREADY_VOTED" // this hub voted for another proposal in that term
  | "NOT_VOTER" // this hub is not among the proposal's voters
  | "VOTERS_MISMATCH" // the proposal's voter list is not this hub's view of the room's voters
  | "NOT_AUTHORITY" // a planned transfer not proposed by the room's current authority
  | "CANDIDATE_BEHIND"; // failover to a hub whose log lacks entries this hub holds

export type VoteDecision =
  | { kind: "vote"; record: TermRecord; vote: Vote; repeated: boolean }
  | { kind: "refused"; code: VoteRefusal; term: bigint };

export interface VoterView {
  self: string;
  /** The room's voters as this hub sees them (distinct, ascending). */
  voters: readonly string[];
  /** This hub's own log of the room. */
  log: LogPosition;
  signer: { sign(data: Uint8Array): Uint8Array };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Decides this hub's answer to a proposal. A granted vote comes with the new record,
 * which the caller persists before sending the vote. Asked again for the proposal it
 * voted for, the hub answers with the same vote (`repeated`): retries are safe.
 */
export function decideVote(rec: TermRecord, p: Proposal, view: VoterView): VoteDecision {
  const refuse = (code: VoteRefusal): VoteDecision => ({ kind: "refused", code, term: rec.term });
  const hash = proposalHash(p);
  const promised = rec.vote;
  if (promised !== undefined && promised.term === p.term) {
    if (bytesEqual(promised.cast.proposal, hash)) {
      return { kind: "vote", record: rec, vote: promised.cast, repeated: true };
    }
    if (!canary("vote_twice")) return refuse("ALREADY_VOTED");
  }
  if (p.term <= rec.term) return refuse("STALE_TERM");
  if (promised !== undefined && promised.term > p.term) return refuse("STALE_TERM");
  if (!p.voters.includes(view.self)) return refuse("NOT_VOTER");
  if (!sameList(p.voters, view.voters)) return refuse("VOTERS_MISMATCH");
  if (p.kind === "planned") {
    // Only the sitting authority hands its room on; it hands its whole tail to `to`.
    if (p.proposer !== rec.authority || p.from !== rec.authority) {
      return refuse("NOT_AUTHORITY");
    }
  } else if (compareLogs(p, view.log) < 0) {
    // Every entry a majority persisted is in some voter's log: the candidate must hold
    // everything each of its voters holds, or an acknowledged frame could be lost.
    return refuse("CANDIDATE_BEHIND");
  }
  const vote = signVote(view.self, hash, view.signer);
  return {
    kind: "vote",
    record: { ...rec, vote: { term: p.term, cast: vote } },
    vote,
    repeated: false,
  };
}

export type CertificateDecision =
  | { kind: "adopted"; record: TermRecord; previous: string }
  | { kind: "known" }
  | { kind: "invalid"; reason: string };

/**
 * Adopts a certificate for a higher term (from any peer: this is how a deposed authority
 * learns it was replaced). A certificate for a term already known is `known`.
 */
export function adoptCertificate(
  rec: TermRecord,
  cert: HandoverCertificate,
  keys: HubKeys,
): CertificateDecision {
  const p = cert.proposal;
  if (p.roomId !== rec.roomId) return { kind: "invalid", reason: "another room's certificate" };
  if (p.term <= rec.term) return { kind: "known" };
  const check = verifyCertificate(cert, keys);
  if (!check.ok) return { kind: "invalid", reason: check.reason };
  return {
    kind: "adopted",
    record: { ...rec, term: p.term, authority: p.to, certificate: cert },
    previous: rec.authority,
  };
}

/** Collects votes for one proposal until they make a certificate. */
export class VoteCollector {
  readonly #hash: Uint8Array;
  readonly #votes = new Map<string, Vote>();
  readonly #refusals = new Map<string, VoteRefusal>();

  constructor(
    readonly proposal: Proposal,
    readonly keys: HubKeys,
  ) {
    this.#hash = proposalHash(proposal);
  }

  /** Counts a vote (ignored unless from a listed voter, on this proposal, validly signed). */
  add(vote: Vote): HandoverCertificate | undefined {
    if (!this.proposal.voters.includes(vote.voter) || this.#votes.has(vote.voter)) return;
    if (!bytesEqual(vote.proposal, this.#hash) || !verifyVote(vote, this.keys)) return;
    this.#votes.set(vote.voter, vote);
    // The certificate once, when the majority is reached; later votes add nothing.
    if (this.#votes.size !== majority(this.proposal.voters.length)) return;
    return { proposal: this.proposal, votes: [...this.#votes.values()] };
  }

  refuse(voter: string, code: VoteRefusal): void {
    if (this.proposal.voters.includes(voter)) this.#refusals.set(voter, code);
  }

  /** True once so many voters refused that no majority is left. */
  get lost(): boolean {
    const n = this.proposal.voters.length;
    return this.#refusals.size > n - majority(n);
  }
}

/** The record's bytes at rest. */
export function encodeTermRecord(rec: TermRecord): Uint8Array {
  const m: Record<string, unknown> = {
    v: 1,
    room: rec.roomId,
    term: rec.term,
    auth: rec.authority,
  };
  if (rec.certificate !== undefined) m.cert = certificateToMap(rec.certificate);
  if (rec.vote !== undefined) {
    m.vote = { term: rec.vote.term, cast: voteToMap(rec.vote.cast) };
  }
  return stateCborEncode(m);
}

export function decodeTermRecord(bytes: Uint8Array): TermRecord {
  let raw: unknown;
  try {
    raw = stateCborDecode(bytes);
  } catch (e) {
    throw new StatementFormatError(`term record is not CBOR: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null) throw new StatementFormatError("term record");
  const m = raw as Record<string, unknown>;
  if (m.v !== 1 || typeof m.room !== "bigint" || typeof m.term !== "bigint") {
    throw new StatementFormatError("term record: unknown version or fields");
  }
  if (typeof m.auth !== "string") throw new StatementFormatError("term record: authority");
  const rec: TermRecord = { roomId: m.room, term: m.term, authority: m.auth };
  if (m.cert !== undefined) rec.certificate = certificateFromMap(m.cert);
  if (m.vote !== undefined) {
    const v = m.vote as Record<string, unknown>;
    if (typeof v.term !== "bigint") throw new StatementFormatError("term record: vote term");
    rec.vote = { term: v.term, cast: voteFromMap(v.cast) };
  }
  return rec;
}
