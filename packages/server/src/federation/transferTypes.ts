/**
 * The shapes of a transfer of a room's authority on a real hub (roomTransfers.ts): its
 * result and status as the runtime sees them, what it needs of its federation core, and
 * the transfers in flight.
 */
import type { Clock, DeviceSigner, ProtocolErrorCode, Rng } from "@kalandra/proto";
import type { Storage } from "../storage/types.js";
import type { Handover } from "./authority/authorityFrames.js";
import type { HandoverCertificate, Proposal } from "./authority/statement.js";
import type { TermRecords } from "./authority/termRecords.js";
import type { VoteCollector } from "./authority/termState.js";
import type { AuthorityBook } from "./authorityBook.js";
import type { LocalHub } from "./coreDeps.js";
import type { RoomFacts } from "./roomFacts.js";

export type TransferResult =
  | { ok: true; term: bigint }
  | { ok: false; code: ProtocolErrorCode; message: string };

export type AuthorityRole = "sequencer" | "replica" | "handing_over" | "awaiting_handover";

export interface RoomAuthorityStatus {
  authority: string;
  term: bigint;
  role: AuthorityRole;
  /** Entries of the room's log this hub holds as committed. */
  commitIndex: bigint;
}

/** What the transfer part needs of its federation core and hub. */
export interface TransferHost {
  readonly self: string;
  readonly signer: DeviceSigner;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly storage: Storage;
  readonly book: AuthorityBook;
  readonly records: TermRecords;
  /** The pinned key of a peer (or this hub's own), for statements' signatures. */
  keyOf(domain: string): Uint8Array | undefined;
  isUp(domain: string): boolean;
  /** A hub frame of this hub's to a peer, in an envelope. */
  send(domain: string, frame: Uint8Array): void;
  /** The hub (its shards): member domains, settling, handover and installation of rooms. */
  local(): LocalHub | undefined;
  /** Resolves once the replica holds every frame that reached it so far. */
  replicaSettled(roomId: bigint): Promise<void>;
  /**
   * The room is the authority's of `term` now: whatever this hub still held for it goes once
   * that authority commits it (majorityGate.ts).
   */
  handedOver(roomId: bigint, term: bigint): void;
  /**
   * A new term starts at `from`: the replica's log is given up when it runs past (fetched
   * again from the authority); resolves with how many entries were past it.
   */
  giveWay(roomId: bigint, term: bigint, from: bigint): Promise<bigint>;
  /** Asks `domain` for the room's log from the replica's head on (a catch-up). */
  catchUp(domain: string, roomId: bigint): void;
  /**
   * `domain` says it sequences the room in `term`, above this hub's record, with no proof
   * (AUTHORITY_COMMIT): its certificate chain is asked (trust/termFetch.ts).
   */
  claimed(domain: string, roomId: bigint, term: bigint): void;
  /** Another hub took the room over from this one by failover: what it held is void. */
  deposed(roomId: bigint): void;
  /** Voters and term starts of the rooms (failover). */
  readonly facts: RoomFacts;
  /** How long the link to a peer has been down (ms), undefined while it is up. */
  downFor(domain: string): bigint | undefined;
  /** Counts a refused authority frame by its code. */
  count(code: ProtocolErrorCode): void;
  failoverAfterMs: number;
  retryAfterMs: bigint;
}

/** A planned transfer this hub (the authority) runs. */
export interface Outgoing {
  proposal: Proposal;
  collector: VoteCollector;
  answered: Set<string>;
  expiresAt: bigint;
  /** Set once the certificate formed: the room is being handed over. */
  cert?: HandoverCertificate;
  handover?: Handover;
  lastSent: bigint;
  done(r: TransferResult): void;
}

/** A room this hub takes over once its replica holds the old authority's whole log. */
export interface Incoming {
  cert: HandoverCertificate;
  handover: Handover;
  installing: boolean;
  /** When the old authority was last asked for the log's end this replica lacks. */
  askedAt?: bigint;
}
