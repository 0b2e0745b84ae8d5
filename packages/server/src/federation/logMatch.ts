/**
 * A replica's log against a new term's authority (DESIGN §11, issue 18): after a failover
 * a replica may hold a deposed authority's tail that no majority kept (or be that deposed
 * authority). The position check alone cannot see it when the new term's frames land just
 * after that tail, so a replica checks its log once per term before taking the term's
 * frames: the first frame of a new term is held back and a catch-up asked from one entry
 * before the replica's head; the page's first entry must be byte-identical to the stored
 * one (same position, same authority stamp: the logs agree up to it, as each term's
 * authority only appends). On a mismatch, or when the authority's log ends before the
 * replica's in a later term than the replica's last entry, the whole log is given up
 * (erased and dropped: storage has no partial truncation) and fetched again from 0.
 *
 * Frames of the current authority that the replica's devices were waiting on the commit
 * point for (majority mode) are dropped at a term change: a later commit point of the new
 * authority says nothing about the old one's uncommitted frames (devices sync them).
 */
import { FrameHeader } from "@kalandra/proto";
import type { PageEntry, ReplicaLog } from "./replica.js";
import type { RoomFacts } from "./roomFacts.js";

export interface LogMatchDeps {
  replica: ReplicaLog;
  facts: RoomFacts;
  /** Drops the frames of the room held for the commit point (majority mode). */
  forgetHeld(roomId: bigint): void;
}

/**
 * What a catch-up page told about the replica's log: "kept" when it disagrees but the log
 * is kept (`keep`: this hub hands the room over, its log is the room's).
 */
export type PageCheck = "agrees" | "unknown" | "discarded" | "kept";

export class LogMatch {
  /** The term each room's log was last found to agree with its authority in. */
  readonly #agreed = new Map<bigint, bigint>();

  constructor(private readonly d: LogMatchDeps) {}

  /** True once the room's log was found to agree with its authority's in `term`. */
  agreed(roomId: bigint, term: bigint): boolean {
    return this.#agreed.get(roomId) === term;
  }

  /**
   * A live frame of `term`: true when it may be judged now; false when it was held back
   * for the log's check (the caller then catches up from the replica's head).
   */
  async admit(
    roomId: bigint,
    term: bigint,
    frame: Uint8Array,
    to: readonly bigint[],
    roomState?: Uint8Array,
  ): Promise<boolean> {
    if (this.#agreed.get(roomId) === term) return true;
    this.d.forgetHeld(roomId);
    if (this.d.replica.head(roomId) === 0n) {
      this.#agreed.set(roomId, term);
      return true;
    }
    await this.d.replica.defer(roomId, frame, to, roomState, term);
    return false;
  }

  /**
   * A catch-up page of the authority in `term`, asked from one entry before `head` (the
   * replica's head when the page arrived); "discarded" when the log was given up.
   */
  async page(
    roomId: bigint,
    term: bigint,
    head: bigint,
    page: { entries: readonly PageEntry[]; head: bigint },
    keep = false,
  ): Promise<PageCheck> {
    const shorter =
      page.entries.length === 0 && page.head < head && this.d.facts.termAt(roomId, head) < term;
    if (shorter || !(await this.d.replica.agrees(roomId, page.entries))) {
      if (keep) return "kept";
      await this.discard(roomId, term);
      return "discarded";
    }
    const first = page.entries[0];
    if (head === 0n || (first !== undefined && logIndexOf(first) < head)) {
      this.#agreed.set(roomId, term);
      return "agrees";
    }
    return "unknown";
  }

  /**
   * Gives up the log when it runs past `from` (term `term` starts there) with an entry of
   * an older term; how many entries were past it. Entries this replica took in `term`
   * itself stay (AUTHORITY_COMMIT is said again on every link up: fed_hubs_failover seed
   * 368 dropped and fetched whole logs again and again).
   */
  async discardPast(roomId: bigint, term: bigint, from: bigint): Promise<bigint> {
    await this.d.replica.settled(roomId);
    const head = this.d.replica.head(roomId);
    if (head <= from || this.d.facts.termAt(roomId, from + 1n) >= term) return 0n;
    await this.discard(roomId, term);
    return head - from;
  }

  /**
   * Gives the log up for the one of the authority of `term`. Its votes, till the log is
   * fetched again, stand for that log (roomFacts.ts `forgetTerms`): an empty log granted a
   * candidate lacking committed entries (fed_hubs_churn seed 266).
   */
  private async discard(roomId: bigint, term: bigint): Promise<void> {
    // Recorded first: a crash in between leaves a floor and a log, never an empty log alone.
    await this.d.facts.forgetTerms(roomId, term);
    await this.d.replica.discard(roomId);
    this.d.forgetHeld(roomId);
    this.#agreed.delete(roomId);
  }
}

function logIndexOf(e: PageEntry): bigint {
  return FrameHeader.view(e.header).logIndex;
}
