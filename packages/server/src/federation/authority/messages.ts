/**
 * What hubs say to each other about one room's authority and log (DESIGN §11), and the
 * bytes of a position-bound log entry.
 *
 * An entry is bound to its position under the key of the authority that sequenced it:
 * the signature covers (room, index, term, authority, request, SHA-256 of the body), so a
 * replica can prove what the authority ordered where, and an entry moved to another index
 * or term no longer verifies.
 *
 * The messages ride in the federation envelope between linked hubs; this module gives
 * them one CBOR encoding and a decoder with one failure channel (StatementFormatError).
 */
import { createHash } from "node:crypto";
import { ed25519Verify, stateCborDecode, stateCborEncode } from "@kalandra/proto";
import {
  certificateFromMap,
  certificateToMap,
  decodeProposal,
  encodeProposal,
  type HandoverCertificate,
  type HubKeys,
  type Proposal,
  StatementFormatError,
  type Vote,
  voteFromMap,
  voteToMap,
} from "./statement.js";
import type { VoteRefusal } from "./termState.js";

export interface LogEntry {
  /** The entry's log_index (0-based position in the room's log). */
  index: bigint;
  /** The term of the authority that sequenced it. */
  term: bigint;
  /** The authority that sequenced it. */
  by: string;
  /** The request's idempotency key (sender and request id). */
  request: string;
  /** The sequenced frame. */
  body: Uint8Array;
  /** Ed25519 by `by` over `entrySigningInput`. */
  sig: Uint8Array;
}

const POSITION_CONTEXT = "kalandra/federation/position/v1";

export function entrySigningInput(roomId: bigint, e: Omit<LogEntry, "sig">): Uint8Array {
  return stateCborEncode({
    ctx: POSITION_CONTEXT,
    room: roomId,
    index: e.index,
    term: e.term,
    by: e.by,
    request: e.request,
    body: new Uint8Array(createHash("sha256").update(e.body).digest()),
  });
}

export function signEntry(
  roomId: bigint,
  e: Omit<LogEntry, "sig">,
  signer: { sign(data: Uint8Array): Uint8Array },
): LogEntry {
  return { ...e, sig: signer.sign(entrySigningInput(roomId, e)) };
}

export function verifyEntry(roomId: bigint, e: LogEntry, keys: HubKeys): boolean {
  const key = keys(e.by);
  return key !== undefined && ed25519Verify(key, entrySigningInput(roomId, e), e.sig);
}

export type AuthorityMessage =
  | { t: "propose"; room: bigint; proposal: Proposal }
  | { t: "vote"; room: bigint; vote: Vote; term: bigint }
  | { t: "refuse"; room: bigint; term: bigint; code: VoteRefusal; cert?: HandoverCertificate }
  | { t: "cert"; room: bigint; cert: HandoverCertificate }
  | {
      t: "append";
      room: bigint;
      term: bigint;
      /** Entries before the first one carried (the replica must hold exactly these). */
      prevLength: bigint;
      /** Term of the entry at prevLength - 1 (0 when prevLength is 0). */
      prevTerm: bigint;
      entries: readonly LogEntry[];
      /** How many entries are committed (acknowledged) at the sender. */
      commit: bigint;
      /** The sender's certificate for `term`, for a replica that does not know it yet. */
      cert?: HandoverCertificate;
      /** Set by an old authority handing its tail to the new one; `final` when complete. */
      handover?: { final: boolean };
    }
  | {
      t: "appended";
      room: bigint;
      term: bigint;
      ok: boolean;
      /** The replica's log length after this append (its match on success). */
      length: bigint;
      /** The replica's certificate when it knows a higher term than the sender. */
      cert?: HandoverCertificate;
    };

function entryToMap(e: LogEntry): Record<string, unknown> {
  return { i: e.index, t: e.term, by: e.by, rq: e.request, b: e.body, s: e.sig };
}

export function encodeAuthorityMessage(m: AuthorityMessage): Uint8Array {
  const out: Record<string, unknown> = { ...m };
  switch (m.t) {
    case "propose":
      out.proposal = encodeProposal(m.proposal);
      break;
    case "vote":
      out.vote = voteToMap(m.vote);
      break;
    case "append":
      out.entries = m.entries.map(entryToMap);
      break;
    default:
      break;
  }
  if ("cert" in m && m.cert !== undefined) out.cert = certificateToMap(m.cert);
  return stateCborEncode(out);
}

function big(v: unknown, label: string): bigint {
  if (typeof v === "bigint" && v >= 0n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new StatementFormatError(`"${label}" expected a non-negative integer`);
}

function str(v: unknown, label: string): string {
  if (typeof v !== "string") throw new StatementFormatError(`"${label}" expected text`);
  return v;
}

function bin(v: unknown, label: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new StatementFormatError(`"${label}" expected bytes`);
  return new Uint8Array(v);
}

function entryFromMap(raw: unknown): LogEntry {
  if (typeof raw !== "object" || raw === null) throw new StatementFormatError("entry");
  const e = raw as Record<string, unknown>;
  return {
    index: big(e.i, "index"),
    term: big(e.t, "term"),
    by: str(e.by, "by"),
    request: str(e.rq, "request"),
    body: bin(e.b, "body"),
    sig: bin(e.s, "sig"),
  };
}

/** Every reason a voter may refuse a proposal. */
export const REFUSALS: readonly VoteRefusal[] = [
  "STALE_TERM",
  "ALREADY_VOTED",
  "NOT_VOTER",
  "VOTERS_MISMATCH",
  "NOT_AUTHORITY",
  "CANDIDATE_BEHIND",
];

/** Reads a message; StatementFormatError for anything that is not a well-formed one. */
export function decodeAuthorityMessage(bytes: Uint8Array): AuthorityMessage {
  let raw: unknown;
  try {
    raw = stateCborDecode(bytes);
  } catch (e) {
    throw new StatementFormatError(`authority message is not CBOR: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null) throw new StatementFormatError("not a map");
  const m = raw as Record<string, unknown>;
  const room = big(m.room, "room");
  const cert = m.cert === undefined ? {} : { cert: certificateFromMap(m.cert) };
  switch (m.t) {
    case "propose":
      return { t: "propose", room, proposal: decodeProposal(bin(m.proposal, "proposal")) };
    case "vote":
      return { t: "vote", room, term: big(m.term, "term"), vote: voteFromMap(m.vote) };
    case "refuse": {
      const code = REFUSALS.find((c) => c === m.code);
      if (code === undefined) throw new StatementFormatError('"code" unknown');
      return { t: "refuse", room, term: big(m.term, "term"), code, ...cert };
    }
    case "cert":
      if (m.cert === undefined) throw new StatementFormatError('"cert" missing');
      return { t: "cert", room, cert: certificateFromMap(m.cert) };
    case "append": {
      if (!Array.isArray(m.entries)) throw new StatementFormatError('"entries" expected array');
      const h = m.handover as { final?: unknown } | undefined;
      return {
        t: "append",
        room,
        term: big(m.term, "term"),
        prevLength: big(m.prevLength, "prevLength"),
        prevTerm: big(m.prevTerm, "prevTerm"),
        entries: m.entries.map(entryFromMap),
        commit: big(m.commit, "commit"),
        ...cert,
        ...(h === undefined ? {} : { handover: { final: h.final === true } }),
      };
    }
    case "appended":
      if (typeof m.ok !== "boolean") throw new StatementFormatError('"ok" expected boolean');
      return {
        t: "appended",
        room,
        term: big(m.term, "term"),
        ok: m.ok,
        length: big(m.length, "length"),
        ...cert,
      };
    default:
      throw new StatementFormatError(`unknown authority message ${String(m.t)}`);
  }
}
