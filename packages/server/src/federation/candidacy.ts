/**
 * When a hub may promise a higher term of a room (DESIGN §11, issue 18 (a)): a hub that
 * holds the room or is taking it answers failover proposals with a refusal, since the
 * authority they would replace is there; and an election this hub wins in a term below one
 * it promised since is given up (roomTransfers.ts `count`). Otherwise it could sequence in its own term after promising
 * that higher term's candidate its log as it was, and count itself towards a commit point
 * the candidate's log lacks (an acknowledged entry lost once the candidate wins).
 */
import type { Clock } from "@kalandra/proto";
import type { TermRecord } from "./authority/termState.js";

export class Candidacy {
  /**
   * Rooms this hub voted to take by a planned transfer, until that proposal would have
   * expired (in memory): its certificate may be on its way here.
   */
  readonly #named = new Map<bigint, bigint>();

  constructor(
    private readonly self: string,
    private readonly clock: Clock,
    /** How long a proposal lives (2 × failover_after_ms), ms. */
    private readonly proposalMs: number,
  ) {}

  /** This hub voted for a planned transfer of the room to itself. */
  named(roomId: bigint): void {
    this.#named.set(roomId, this.clock.now() + BigInt(this.proposalMs));
  }

  /** A certificate of the room came: the planned vote is settled. */
  settled(roomId: bigint): void {
    this.#named.delete(roomId);
  }

  /**
   * True while this hub holds the room or is taking it: its record names it (sequencing,
   * electing itself to reclaim it, handing it over before the certificate, or installing a
   * term it won), or it voted for a planned transfer to itself that has not expired. (A
   * candidate of a failover is not: it votes for a rival's higher term with a more complete
   * log, and gives its own lower term up if it still wins it.)
   */
  standing(rec: TermRecord): boolean {
    if (rec.authority === this.self) return true;
    const until = this.#named.get(rec.roomId);
    if (until === undefined) return false;
    if (this.clock.now() < until) return true;
    this.#named.delete(rec.roomId);
    return false;
  }
}

/** The record promises a term above `term`: nothing may be sequenced in `term` here. */
export function promisedAbove(rec: TermRecord | undefined, term: bigint): boolean {
  return (rec?.vote?.term ?? 0n) > term;
}
