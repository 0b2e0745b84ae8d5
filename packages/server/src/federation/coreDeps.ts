/**
 * What the federation core (federationCore.ts) is given and asks of its hub: the links,
 * keys and settings a runtime builds it with, and the hub's side (`LocalHub`) it calls —
 * requests of peers' users, catch-up pages, local delivery, and the shard operations a
 * transfer of a room's authority needs.
 */
import type { Clock, DeviceSigner, Frame, Rng } from "@kalandra/proto";
import type { RoomMeta, Storage } from "../storage/types.js";
import type { BanPolicy } from "../vocabulary/bans.js";
import type { Refusal } from "../vocabulary/outcome.js";
import type { Sink } from "../vocabulary/target.js";
import type { AckQuorum } from "./authority/roomAuthority.js";
import type { AuthorityHandler, PeerLinks, PeerPolicy } from "./contract.js";
import type { EphemeralAllowance } from "./ephemeralRelay.js";
import type { PeerRequester } from "./forwarding.js";
import type { SyncPage } from "./replicaIntake.js";

/** What the federation core asks of its hub. */
export interface LocalHub {
  /** A peer's forwarded request; answers go to `replyTo` (a session id) through the sink. */
  peerRequest(replyTo: string, frame: Frame, from: PeerRequester): Promise<unknown>;
  /** A SYNC_PAGE of a room this hub sequences (replicas catching up), undefined if none. */
  syncPage(roomId: bigint, from: bigint, limit: number): Promise<SyncPage | undefined>;
  /** Local delivery (the hub's sink; Welcomes are kept in the inbox on their way). */
  sink: Sink;
  /**
   * A device of another hub is live (its hub forwards its requests) or no longer (the link
   * went down): commit requests may go to it (sequencer/commitScheduler.ts).
   */
  remoteLive?(senderId: bigint, live: boolean): void;
  /** Domains of the users of a room's member devices, undefined when not sequenced here. */
  memberDomains?(roomId: bigint): Promise<string[] | undefined>;
  /**
   * Lists these hub keys (the room's other voters) as the room's MLS external senders, so
   * any of them can kick once it sequences the room (moderation/enlistHubs.ts). True when
   * all are listed already (nothing proposed, nothing pending).
   */
  enlistHubs?(roomId: bigint, keys: Uint8Array[]): Promise<boolean>;
  /**
   * Erases the room's entry `logIndex` in this hub's other copy of the room's log: a worker
   * shard's, kept from when this hub sequenced the room (it would be served again if the
   * room came back). For each erasure the replica makes (replicaRedaction.ts). Absent when
   * there is no other copy (the shards use the main storage).
   */
  eraseCopy?(roomId: bigint, logIndex: bigint): Promise<void>;
  /** Resolves once every request accepted before is durable and sent on (shards drained). */
  settle?(): Promise<void>;
  /**
   * Where the log of a room sequenced here ends in its shard, once the shards drained;
   * undefined when the shard holds no such room. Only where shards keep their own storage
   * (kalandrad's worker shards): there the main storage's copy of a room this hub sequences
   * stops growing when the hub takes the room (in process it is the same storage).
   */
  shardLogEnd?(roomId: bigint): Promise<bigint | undefined>;
  /** Where a room sequenced here ends, with its stored state and metadata (a handover). */
  handoverOf?(roomId: bigint): Promise<RoomHandover | undefined>;
  /** Stores a room taken over and (re)starts its sequencer from it; a refusal if it cannot. */
  installRoom?(h: RoomHandover): Promise<Refusal | undefined>;
}

/** A room as its old authority hands it to the new one (roomTransfers.ts). */
export interface RoomHandover {
  meta: RoomMeta;
  roomState: Uint8Array;
  nextIndex: bigint;
}

export interface FederationDeps {
  peers: PeerPolicy;
  links: PeerLinks;
  signer: DeviceSigner;
  clock: Clock;
  /** The hub's main storage: replicas and the authority book. */
  storage: Storage;
  /** The authority-transfer part; without it authority frames are refused. */
  authority?: AuthorityHandler;
  /** Retry hint of PEER_UNREACHABLE and TRANSFERRING, ms (default 1000). */
  retryAfterMs?: bigint;
  /** `federation.ack_quorum` (default "local"). */
  ackQuorum?: AckQuorum;
  /** `federation.failover_after_ms`: silence before a voter proposes itself (default 3000). */
  failoverAfterMs?: number;
  /** Enlist voter hubs as the rooms' MLS external senders (hubEnlisting.ts; default on). */
  enlistHubs?: boolean;
  /** `federation.keepalive_ms`: pings of peers reached through a relay (default 5000). */
  keepaliveMs?: number;
  /** Proposal nonces (default: none; a hub without it cannot propose a transfer). */
  rng?: Rng;
  /** This hub's bans, over what it relays to its devices too (relayFilter.ts). */
  bans?: BanPolicy;
  /** A device's allowance of presence/typing frames (the hub's EphemeralGate). */
  ephemeralAllowance?: () => EphemeralAllowance;
}

export const NO_RNG: Rng = {
  bytes: () => {
    throw new Error("federation: no rng given, cannot propose a transfer");
  },
};
