/**
 * What hubs sign when a room's authority moves (DESIGN §11): the proposal, each voter's
 * vote, and the handover certificate (the proposal plus a majority of signed votes).
 *
 * Every signature is over a domain-separated CBOR encoding, so a vote can never be taken
 * for another statement. A vote signs the SHA-256 of the proposal's bytes: two votes name
 * the same proposal exactly when they name the same hash.
 *
 * A certificate is valid when the voters are listed once each, in order, and more than
 * half of them signed this proposal under their pinned hub keys. Two certificates for one
 * (room, term) cannot both exist because each voter signs at most one proposal per
 * (room, term) (termState.ts) and two majorities of one voter list share a voter.
 */
import { createHash } from "node:crypto";
import { bytesEqual, ed25519Verify, stateCborDecode, stateCborEncode } from "@kalandra/proto";

/** Why a transfer happens: the authority hands the room on, or voters replace a silent one. */
export type TransferKind = "planned" | "failover";

export interface Proposal {
  roomId: bigint;
  /** The term the new authority will sequence in (above every term the voters know). */
  term: bigint;
  /** The authority being replaced (its domain). */
  from: string;
  /** The hub that becomes the authority. */
  to: string;
  /** The hub that asks for votes (the authority in a planned transfer). */
  proposer: string;
  /** Entries in `to`'s log when proposed (its next log_index). */
  position: bigint;
  /** Term of `to`'s last entry (0 for an empty log): with `position`, how complete it is. */
  lastTerm: bigint;
  /** The room's voters at `position`: distinct domains in ascending order. */
  voters: readonly string[];
  /** 16 fresh bytes: two proposals never share a hash. */
  nonce: Uint8Array;
  kind: TransferKind;
}

export interface Vote {
  voter: string;
  /** SHA-256 of the proposal's bytes (`proposalHash`). */
  proposal: Uint8Array;
  /** Ed25519 by the voter's hub key over `voteSigningInput`. */
  signature: Uint8Array;
}

export interface HandoverCertificate {
  proposal: Proposal;
  votes: readonly Vote[];
}

export class StatementFormatError extends Error {
  override readonly name = "StatementFormatError";
}

const PROPOSAL_CONTEXT = "kalandra/federation/authority-proposal/v1";
const VOTE_CONTEXT = "kalandra/federation/authority-vote/v1";
export const NONCE_BYTES = 16;

/** More than half of `voters`. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The proposal's canonical bytes (what its hash and every vote commit to). */
export function encodeProposal(p: Proposal): Uint8Array {
  return stateCborEncode({
    ctx: PROPOSAL_CONTEXT,
    room: p.roomId,
    term: p.term,
    from: p.from,
    to: p.to,
    proposer: p.proposer,
    position: p.position,
    lastTerm: p.lastTerm,
    voters: [...p.voters],
    nonce: p.nonce,
    kind: p.kind,
  });
}

function big(v: unknown, label: string): bigint {
  if (typeof v === "bigint" && v >= 0n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new StatementFormatError(`"${label}" expected a non-negative integer`);
}

function text(v: unknown, label: string): string {
  if (typeof v !== "string" || v.length === 0) {
    throw new StatementFormatError(`"${label}" expected non-empty text`);
  }
  return v;
}

function bytes(v: unknown, label: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array) || (length !== undefined && v.length !== length)) {
    throw new StatementFormatError(`"${label}" expected ${length ?? "some"} bytes`);
  }
  return new Uint8Array(v); // a copy: the decoder's output may be a view
}

function map(v: unknown, label: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new StatementFormatError(`"${label}" expected a map`);
  }
  return v as Record<string, unknown>;
}

/** Reads a proposal from its canonical bytes; StatementFormatError if they are not one. */
export function decodeProposal(encoded: Uint8Array): Proposal {
  let raw: unknown;
  try {
    raw = stateCborDecode(encoded);
  } catch (e) {
    throw new StatementFormatError(`proposal is not CBOR: ${(e as Error).message}`);
  }
  return proposalFromMap(raw);
}

function proposalFromMap(raw: unknown): Proposal {
  const m = map(raw, "proposal");
  if (m.ctx !== PROPOSAL_CONTEXT) throw new StatementFormatError("not an authority proposal");
  if (m.kind !== "planned" && m.kind !== "failover") {
    throw new StatementFormatError('"kind" expected planned or failover');
  }
  if (!Array.isArray(m.voters)) throw new StatementFormatError('"voters" expected an array');
  return {
    roomId: big(m.room, "room"),
    term: big(m.term, "term"),
    from: text(m.from, "from"),
    to: text(m.to, "to"),
    proposer: text(m.proposer, "proposer"),
    position: big(m.position, "position"),
    lastTerm: big(m.lastTerm, "lastTerm"),
    voters: m.voters.map((v, i) => text(v, `voters[${i}]`)),
    nonce: bytes(m.nonce, "nonce", NONCE_BYTES),
    kind: m.kind,
  };
}

export function proposalHash(p: Proposal): Uint8Array {
  return new Uint8Array(createHash("sha256").update(encodeProposal(p)).digest());
}

/** What a voter signs: the context, its own domain and the proposal's hash. */
export function voteSigningInput(voter: string, hash: Uint8Array): Uint8Array {
  return stateCborEncode({ ctx: VOTE_CONTEXT, voter, proposal: hash });
}

export function signVote(
  voter: string,
  hash: Uint8Array,
  signer: { sign(data: Uint8Array): Uint8Array },
): Vote {
  return { voter, proposal: hash, signature: signer.sign(voteSigningInput(voter, hash)) };
}

/** Pinned hub keys by domain; undefined for a hub this one does not know. */
export type HubKeys = (domain: string) => Uint8Array | undefined;

export function verifyVote(vote: Vote, keys: HubKeys): boolean {
  const key = keys(vote.voter);
  if (key === undefined || vote.signature.length !== 64) return false;
  return ed25519Verify(key, voteSigningInput(vote.voter, vote.proposal), vote.signature);
}

/** A voter list is distinct domains in ascending order (so one list has one encoding). */
export function votersWellFormed(voters: readonly string[]): boolean {
  if (voters.length === 0) return false;
  for (let i = 1; i < voters.length; i++) if (!(voters[i - 1]! < voters[i]!)) return false;
  return true;
}

export type CertificateCheck = { ok: true } | { ok: false; reason: string };

/** The listed voters whose vote on exactly this proposal verifies under their pinned key. */
export function validSigners(cert: HandoverCertificate, keys: HubKeys): Set<string> {
  const p = cert.proposal;
  const hash = proposalHash(p);
  const counted = new Set<string>();
  for (const v of cert.votes) {
    if (!p.voters.includes(v.voter) || counted.has(v.voter)) continue;
    if (!bytesEqual(v.proposal, hash) || !verifyVote(v, keys)) continue;
    counted.add(v.voter);
  }
  return counted;
}

/**
 * Checks a handover certificate: a well-formed proposal for term ≥ 1 whose target is a
 * voter, and valid signatures of more than half of its voters on exactly this proposal.
 * Votes from non-voters, duplicates or bad signatures are not counted.
 */
export function verifyCertificate(cert: HandoverCertificate, keys: HubKeys): CertificateCheck {
  const p = cert.proposal;
  if (p.term < 1n) return { ok: false, reason: "term 0 is the room's creation, not a transfer" };
  if (!votersWellFormed(p.voters)) return { ok: false, reason: "voters not distinct and sorted" };
  if (!p.voters.includes(p.to)) return { ok: false, reason: `new authority ${p.to} not a voter` };
  const counted = validSigners(cert, keys);
  const need = majority(p.voters.length);
  if (counted.size < need) {
    return { ok: false, reason: `${counted.size} valid votes of ${need} needed` };
  }
  return { ok: true };
}

/** The certificate as a plain CBOR-ready map (for persistence and the wire). */
export function certificateToMap(c: HandoverCertificate): Record<string, unknown> {
  return {
    proposal: encodeProposal(c.proposal),
    votes: c.votes.map(voteToMap),
  };
}

export function certificateFromMap(raw: unknown): HandoverCertificate {
  const m = map(raw, "certificate");
  if (!(m.proposal instanceof Uint8Array)) throw new StatementFormatError("proposal bytes");
  if (!Array.isArray(m.votes)) throw new StatementFormatError('"votes" expected an array');
  return {
    proposal: decodeProposal(m.proposal),
    votes: m.votes.map((raw, i) => voteFromMap(raw, `votes[${i}]`)),
  };
}

export function voteToMap(v: Vote): Record<string, unknown> {
  return { voter: v.voter, proposal: v.proposal, sig: v.signature };
}

export function voteFromMap(raw: unknown, label = "vote"): Vote {
  const v = map(raw, label);
  return {
    voter: text(v.voter, "voter"),
    proposal: bytes(v.proposal, "vote proposal", 32),
    signature: bytes(v.sig, "vote signature", 64),
  };
}
