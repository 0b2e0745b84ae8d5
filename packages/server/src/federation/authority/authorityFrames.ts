/**
 * The authority statements (statement.ts: proposal, vote, certificate) as the AUTHORITY_*
 * and HANDOVER_CERT hub frames real hubs exchange over their links (docs/protocol.md
 * "Federation"). The frame is signed by the hub that sends it (checked against its pinned
 * key before anything here runs); the statements inside keep their own signatures, so a
 * certificate proves itself to any hub, whoever relays it.
 *
 * Every decoder throws StatementFormatError for anything that is not a well-formed
 * statement (the caller counts it as BAD_PAYLOAD).
 */
import {
  type AuthorityProposePayload,
  type AuthorityVotePayload,
  type DeviceSigner,
  type HandoverCertPayload,
  hubFrame,
  Opcode,
  stateCborDecode,
  stateCborEncode,
} from "@kalandra/proto";
import { REFUSALS } from "./messages.js";
import {
  certificateFromMap,
  certificateToMap,
  decodeProposal,
  encodeProposal,
  type HandoverCertificate,
  type Proposal,
  StatementFormatError,
  type Vote,
  voteFromMap,
  voteToMap,
} from "./statement.js";
import type { VoteRefusal } from "./termState.js";

const KNOWN_REFUSALS: ReadonlySet<string> = new Set(REFUSALS);

export function proposeFrame(signer: DeviceSigner, p: Proposal): Uint8Array {
  const payload: AuthorityProposePayload = {
    term: p.term,
    from: p.from,
    to: p.to,
    log_index: p.position,
    nonce: p.nonce,
    reason: p.kind,
    proposer: p.proposer,
    last_term: p.lastTerm,
    voters: [...p.voters],
  };
  return hubFrame(signer, Opcode.AUTHORITY_PROPOSE, p.roomId, 0n, payload);
}

export function proposalOf(roomId: bigint, m: AuthorityProposePayload): Proposal {
  return {
    roomId,
    term: m.term,
    from: m.from,
    to: m.to,
    proposer: m.proposer,
    position: m.log_index,
    lastTerm: m.last_term,
    voters: [...m.voters],
    nonce: new Uint8Array(m.nonce),
    kind: m.reason,
  };
}

/** A voter's answer: its signed vote, or why it refuses (with a higher term's certificate). */
export type VoteAnswer =
  | { approve: true; vote: Vote }
  | { approve: false; refusal: VoteRefusal; cert?: HandoverCertificate };

export function voteFrame(
  signer: DeviceSigner,
  p: { roomId: bigint; term: bigint; hash: Uint8Array; voter: string; logIndex: bigint },
  a: VoteAnswer,
): Uint8Array {
  const payload: AuthorityVotePayload = {
    term: p.term,
    proposal: p.hash,
    voter: p.voter,
    approve: a.approve,
    log_index: p.logIndex,
  };
  if (a.approve) payload.signature = a.vote.signature;
  else {
    payload.refusal = a.refusal;
    if (a.cert !== undefined) payload.cert = stateCborEncode(certificateToMap(a.cert));
  }
  return hubFrame(signer, Opcode.AUTHORITY_VOTE, p.roomId, 0n, payload);
}

export function voteAnswerOf(m: AuthorityVotePayload): VoteAnswer {
  if (m.approve) {
    if (m.signature === undefined) throw new StatementFormatError("a vote carries its signature");
    return {
      approve: true,
      vote: { voter: m.voter, proposal: new Uint8Array(m.proposal), signature: m.signature },
    };
  }
  if (m.refusal === undefined || !KNOWN_REFUSALS.has(m.refusal)) {
    throw new StatementFormatError("a refusal names a known reason");
  }
  return {
    approve: false,
    refusal: m.refusal as VoteRefusal,
    ...(m.cert === undefined ? {} : { cert: certificateFromMap(decodeMap(m.cert)) }),
  };
}

/** What the old authority hands the new one with the certificate (planned transfer). */
export interface Handover {
  nextIndex: bigint;
  roomState: Uint8Array;
  createdAt: bigint;
  creator?: string;
}

export function certFrame(
  signer: DeviceSigner,
  cert: HandoverCertificate,
  handover?: Handover,
): Uint8Array {
  const payload: HandoverCertPayload = certToWire(cert);
  if (handover !== undefined) {
    payload.handover = {
      next_index: handover.nextIndex,
      room_state: handover.roomState,
      created_at: handover.createdAt,
      ...(handover.creator === undefined ? {} : { creator: handover.creator }),
    };
  }
  return hubFrame(signer, Opcode.HANDOVER_CERT, cert.proposal.roomId, 0n, payload);
}

export function certOf(m: HandoverCertPayload): {
  cert: HandoverCertificate;
  handover?: Handover;
} {
  const cert = certFromWire(m);
  const h = m.handover;
  if (h === undefined) return { cert };
  return {
    cert,
    handover: {
      nextIndex: h.next_index,
      roomState: new Uint8Array(h.room_state),
      createdAt: h.created_at,
      ...(h.creator === undefined ? {} : { creator: h.creator }),
    },
  };
}

/** A certificate as HANDOVER_CERT and TERM_CHAIN carry it: proposal and vote statements. */
export interface WireCertificate {
  proposal: Uint8Array;
  votes: Uint8Array[];
}

export function certToWire(cert: HandoverCertificate): WireCertificate {
  return {
    proposal: encodeProposal(cert.proposal),
    votes: cert.votes.map((v) => stateCborEncode(voteToMap(v))),
  };
}

export function certFromWire(m: WireCertificate): HandoverCertificate {
  return {
    proposal: decodeProposal(m.proposal),
    votes: m.votes.map((v, i) => voteFromMap(decodeMap(v), `votes[${i}]`)),
  };
}

function decodeMap(bytes: Uint8Array): unknown {
  try {
    return stateCborDecode(bytes);
  } catch (e) {
    throw new StatementFormatError(`statement is not CBOR: ${(e as Error).message}`);
  }
}
