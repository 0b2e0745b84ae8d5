/**
 * When a hub may believe that a room moved to a higher term (DESIGN §11, issue 18 (e)):
 * only on a certificate that a majority of voters this hub can check signed.
 *
 * A certificate proves itself only up to its voter list: a majority of the voters it lists
 * signed it under their pinned keys (statement.ts `verifyCertificate`). The list is the
 * proposer's to write, so a configured peer could list itself alone and sign a term of its
 * own. A certificate is therefore believed only when it is also anchored in what this hub
 * already holds (its `Anchor`):
 *  - a majority of one of the voter lists this hub knows for the room signed it (the list
 *    the authority last gave it, the list of the last certificate it believed): a
 *    failover's case, whose voters are exactly those lists (decideVote VOTERS_MISMATCH);
 *  - or it is a planned transfer proposed, and voted for, by the authority this hub knows:
 *    the sitting authority names the room's voters (it holds the members).
 * A hub that holds nothing of the room but what it was told when its user was welcomed
 * (no voter list) has nothing to anchor in: it takes the chain's own proofs (first
 * contact, docs/federation.md "Security").
 *
 * A chain (TERM_CHAIN) is believed one certificate at a time, terms ascending: each one
 * believed is persisted in the hub's record (roomTransfers.ts `adopt`), so it anchors the
 * next.
 */
import {
  type HandoverCertificate,
  type HubKeys,
  majority,
  validSigners,
  verifyCertificate,
} from "../authority/statement.js";
import type { TermRecord } from "../authority/termState.js";

/** What this hub believes of a room before it reads a certificate. */
export interface Anchor {
  /** The room's authority in `term`, as this hub holds it. */
  authority: string;
  term: bigint;
  /** Voter lists this hub learned from sources it trusts; empty: first contact. */
  voterSets: readonly (readonly string[])[];
}

export type LinkCheck = { ok: true } | { ok: false; reason: string };

/** Whether `cert` (of a term above the anchor's) is to be believed from `anchor`. */
export function checkLink(cert: HandoverCertificate, anchor: Anchor, keys: HubKeys): LinkCheck {
  const p = cert.proposal;
  if (p.term <= anchor.term)
    return { ok: false, reason: `term ${p.term} is not above ${anchor.term}` };
  const own = verifyCertificate(cert, keys);
  if (!own.ok) return own;
  if (anchor.voterSets.length === 0) return { ok: true };
  const signers = validSigners(cert, keys);
  for (const set of anchor.voterSets) {
    const signed = set.filter((v) => signers.has(v)).length;
    if (set.length > 0 && signed >= majority(set.length)) return { ok: true };
  }
  const sitting = anchor.authority;
  if (
    p.kind === "planned" &&
    p.from === sitting &&
    p.proposer === sitting &&
    signers.has(sitting)
  ) {
    return { ok: true };
  }
  return {
    ok: false,
    reason: `term ${p.term}: no majority of the room's known voters signed, nor its authority ${sitting} handed it over`,
  };
}

/**
 * This hub's anchor for a room: its record (authority, term, the certificate that made it)
 * and the voters the room's authority last listed to it (roomFacts.ts).
 */
export function anchorOf(rec: TermRecord, voters: readonly string[] | undefined): Anchor {
  const sets = [voters, rec.certificate?.proposal.voters].filter((v) => v !== undefined);
  return { authority: rec.authority, term: rec.term, voterSets: sets };
}
