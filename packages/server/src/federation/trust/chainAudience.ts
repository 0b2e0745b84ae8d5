/**
 * Who may read a room's certificate chain (TERM_CHAIN_FETCH → TERM_CHAIN, issue 18 (f)).
 * A chain names the room's voters, so answering any configured peer would tell a hub
 * outside the room that the room exists and which domains hold members of it. A hub
 * answers only the hubs that may know the room already:
 *  - its voters as this hub last recorded them (roomFacts.ts: the list the authority sent
 *    a replica, or the authority's own list of hubs with member devices);
 *  - the room's authority as this hub's book names it;
 *  - every hub the room's chain itself names (each certificate's voters, from, to and
 *    proposer): a deposed authority, a voter that lost its members since, a candidate.
 * Anyone else gets exactly the answer of a room this hub does not know (an empty chain),
 * typed `UNKNOWN_ROOM` on this side (counted, docs/federation.md "Metrics").
 */
import { type Refusal, refuse } from "../../vocabulary/outcome.js";
import type { HandoverCertificate } from "../authority/statement.js";

/** What this hub holds of a room that says who takes part in it. */
export interface RoomAudience {
  voters: readonly string[] | undefined;
  authority: string | undefined;
  /** The room's certificates, every term this hub holds. */
  chain: readonly HandoverCertificate[];
}

/** True when `domain` is a hub the room's own records name. */
export function mayKnowRoom(domain: string, a: RoomAudience): boolean {
  if (a.authority === domain || a.voters?.includes(domain) === true) return true;
  return a.chain.some(({ proposal: p }) => {
    if (p.from === domain || p.to === domain || p.proposer === domain) return true;
    return p.voters.includes(domain);
  });
}

/**
 * The certificates `domain` asked for (terms above `after`, at most `max`), or the typed
 * refusal it is answered as an empty chain with, as for a room this hub never held.
 */
export function chainFor(
  domain: string,
  a: RoomAudience,
  after: bigint,
  max: number,
): { ok: true; certs: HandoverCertificate[] } | { ok: false; refusal: Refusal } {
  if (!mayKnowRoom(domain, a)) {
    return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room known to ${domain}`) };
  }
  return { ok: true, certs: a.chain.filter((c) => c.proposal.term > after).slice(0, max) };
}
