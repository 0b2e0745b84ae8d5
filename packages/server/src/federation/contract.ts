/**
 * The seams of federation (DESIGN §11; issue 18): what the runtimes give the federation
 * core, what they feed it, and what the authority-transfer part plugs into. Types only, so
 * the link runtime (runtime/node/federation/), the harness and the authority state machine
 * (federation/authority/) build against this file and never against each other.
 *
 * Every frame on an established link is a FED_ENVELOPE (proto's `sealEnvelope`/
 * `openEnvelope`), also the authority frames (AUTHORITY_PROPOSE, _VOTE, _COMMIT,
 * HANDOVER_CERT, hub frames signed by their author, carried as the envelope's inner frame).
 * The link handshake frames (FED_HELLO … FED_LINK_OK) travel bare, before `linkUp`.
 */
import type {
  AuthorityCommitPayload,
  AuthorityProposePayload,
  AuthorityVotePayload,
  Frame,
  HandoverCertPayload,
  ProtocolErrorCode,
} from "@kalandra/proto";

/** Moves bytes to a peer over its authenticated link; the runtime drops them if it is down. */
export interface PeerLinks {
  send(domain: string, bytes: Uint8Array): void;
}

/** What the runtime tells the federation core about its links (all synchronous). */
export interface FederationInputs {
  /** The link to `domain` passed the handshake with `hubKey` (the pinned key). */
  linkUp(domain: string, hubKey: Uint8Array): void;
  linkDown(domain: string): void;
  /** One message received on the link to `domain` (an envelope; anything else is refused). */
  linkFrame(domain: string, bytes: Uint8Array): void;
}

/**
 * A configured peer: its domain and its pinned Ed25519 hub key; `via`, a peer this hub
 * reaches it through (onward relay, federation/onwardRelay.ts) instead of a link of its own.
 */
export interface PeerConfig {
  readonly domain: string;
  readonly hubKey: Uint8Array;
  readonly via?: string;
}

export type PeerRefusalCode = Extract<ProtocolErrorCode, "PEER_NOT_CONFIGURED" | "PEER_BLOCKED">;

export type PeerAdmission =
  | { readonly ok: true; readonly hubKey: Uint8Array }
  | { readonly ok: false; readonly code: PeerRefusalCode; readonly message: string };

/**
 * Who this hub federates with (config `[federation]`, fed-runtime builds it): one policy
 * for the link handshake and for envelope origins, so both refuse alike.
 */
export interface PeerPolicy {
  /** This hub's own domain (`server.domain`). */
  readonly domain: string;
  /** Envelopes past this many hops are dropped (TOO_MANY_HOPS). */
  readonly maxHops: number;
  /** The pinned key of a configured, allowed peer, or why it is refused. */
  admit(domain: string): PeerAdmission;
  /**
   * The peer this hub reaches `domain` through (its configured `via`), the only hub whose
   * relayed envelopes of origin `domain` it believes; undefined for a directly linked peer.
   */
  via?(domain: string): string | undefined;
  /** The peers configured with a `via` (reached through another peer). */
  routed?(): readonly string[];
}

/** A room's authority as this hub knows it: the hub that sequences it, in which term. */
export interface RoomAuthority {
  readonly domain: string;
  readonly term: bigint;
}

/**
 * Where a room's authority is (fed-authority's term store implements it; the default is
 * federation/authorityBook.ts). Rooms this hub never federated have none: they are local.
 */
export interface AuthorityView {
  authorityOf(roomId: bigint): RoomAuthority | undefined;
  /**
   * While this hub is the room's authority and hands it over: the ms after which a write
   * may be retried (TRANSFERRING); undefined when it accepts writes.
   */
  transferring?(roomId: bigint): bigint | undefined;
}

/** The authority frames, as the federation core hands them to the transfer state machine. */
export type AuthorityFrame =
  | { kind: "propose"; frame: Frame; payload: AuthorityProposePayload }
  | { kind: "vote"; frame: Frame; payload: AuthorityVotePayload }
  | { kind: "commit"; frame: Frame; payload: AuthorityCommitPayload }
  | { kind: "certificate"; frame: Frame; payload: HandoverCertPayload };

/**
 * The authority-transfer part (federation/authority/): given every authority frame a peer
 * sent (its envelope signature already checked against the pinned key of `from`), and told
 * of each link change. It answers through the same links (`FederationCore.sendHubFrame`).
 */
export interface AuthorityHandler {
  onAuthorityFrame(from: string, f: AuthorityFrame): void;
  onLinkChange?(domain: string, up: boolean): void;
  /**
   * While this hub hands a room it sequences over: the retry hint (ms) writes to it are
   * refused with (TRANSFERRING), local and forwarded alike; undefined when it accepts them.
   */
  transferring?(roomId: bigint): bigint | undefined;
}

/** What a runtime gives the hub core to federate (`HubCoreDeps.federation`): peers and links. */
export interface FederationSetup {
  peers: PeerPolicy;
  links: PeerLinks;
  /** Replaces the built-in transfer part (federation/roomTransfers.ts): tests only. */
  authority?: AuthorityHandler;
  /** Retry hint of PEER_UNREACHABLE and TRANSFERRING, ms (default 1000). */
  retryAfterMs?: bigint;
  /** `federation.ack_quorum` (default "local"). */
  ackQuorum?: "local" | "majority";
  /** `federation.failover_after_ms` (default 3000). */
  failoverAfterMs?: number;
  /**
   * Enlist the rooms' voter hubs as MLS external senders so any of them can kick after a
   * transfer or failover (hubEnlisting.ts; docs/federation.md "Kicks across hubs").
   * `federation.enlist_hubs`, default true; false leaves kicks to the room's creating hub.
   */
  enlistHubs?: boolean;
  /**
   * `federation.keepalive_ms`: how often a peer reached through a relay is pinged over it;
   * silent for two intervals, it counts as unreachable (default 5000).
   */
  keepaliveMs?: number;
}
