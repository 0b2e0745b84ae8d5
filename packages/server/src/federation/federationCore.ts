/**
 * The federation core (DESIGN §11, issue 18): rooms across hubs, without I/O. Driven by the
 * link runtime through `FederationInputs` (linkUp/linkDown/linkFrame) and by the hub core
 * (`forward`, `serveSync`, `intercept`); it sends through `PeerLinks` and delivers locally
 * through the hub's sink. This module builds its parts, wires them and is their one API:
 * envelopes in (envelopeIntake.ts, catchUpAnswers.ts), the hub's output out (sinkRouting.ts,
 * replicationFanout.ts), reachability and sending (peerReach.ts), other hubs' devices
 * (remoteDevices.ts), a participating hub's requests (forwarding.ts) and replica
 * (replicaIntake.ts), transfers and failover (roomTransfers.ts). Every refusal of a peer's
 * frame is typed (`refused` counts by code) and never stored.
 */
import type { Frame, ProtocolErrorCode } from "@kalandra/proto";
import type { StoredDevice } from "../storage/types.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Target } from "../vocabulary/target.js";
import { TermRecords } from "./authority/termRecords.js";
import { AuthorityBook } from "./authorityBook.js";
import type { FederationInputs } from "./contract.js";
import { type FederationDeps, type LocalHub, NO_RNG } from "./coreDeps.js";
import { EnvelopeIntake } from "./envelopeIntake.js";
import { EphemeralRelay } from "./ephemeralRelay.js";
import { Forwarding, type PeerRequester } from "./forwarding.js";
import { shardRoomStatus } from "./handovers.js";
import { HubEnlisting } from "./hubEnlisting.js";
import { LeavingVoters } from "./leavingVoters.js";
import { MajorityGate } from "./majorityGate.js";
import { OnwardRelay } from "./onwardRelay.js";
import { PeerReach } from "./peerReach.js";
import type { EnvelopeExtra, FederationPorts } from "./ports.js";
import { RelayFilter } from "./relayFilter.js";
import { RemoteDevices } from "./remoteDevices.js";
import { ReplicaLog, replicaAck } from "./replica.js";
import { ReplicaIntake, type SyncPageReader } from "./replicaIntake.js";
import { ReplicationFanout } from "./replicationFanout.js";
import { RoomFacts } from "./roomFacts.js";
import { type RoomAuthorityStatus, RoomTransfers, type TransferResult } from "./roomTransfers.js";
import { SinkRouting } from "./sinkRouting.js";
import { TermFetch } from "./trust/termFetch.js";

export type { FederationDeps, LocalHub, RoomHandover } from "./coreDeps.js";
export type { PeerRequester } from "./forwarding.js";
export { transferringRefusal } from "./peerRequests.js";
export type { SyncPage, SyncPageReader } from "./replicaIntake.js";
export type { AuthorityRole, RoomAuthorityStatus, TransferResult } from "./roomTransfers.js";

export class FederationCore implements FederationInputs {
  readonly book: AuthorityBook;
  readonly replica: ReplicaLog;
  /** Refused peer frames by error code (metrics: frames refused per peer are the runtime's). */
  readonly refused = new Map<ProtocolErrorCode, number>();
  /** Peers reachable now, over their own link or their via's, and sending to them. */
  private readonly reach: PeerReach;
  /** Frames to and through hubs without a link of their own (onwardRelay.ts). */
  readonly relay: OnwardRelay;
  /** Devices of other hubs this hub learned of, and which of them are live. */
  private readonly devices: RemoteDevices;
  private readonly forwarding: Forwarding;
  private readonly intake: ReplicaIntake;
  /** This hub's bans over what it relays to its devices (relayFilter.ts). */
  readonly relayFilter: RelayFilter;
  /** Presence and typing across hubs (ephemeralRelay.ts). */
  readonly ephemeral: EphemeralRelay;
  private readonly transfers: RoomTransfers;
  /** Frames of terms this hub does not believe yet, and the chains asked for them. */
  readonly trust: TermFetch;
  /** Voters and term starts of the rooms (failover). */
  private readonly facts: RoomFacts;
  /** `ack_quorum = "majority"` at the authority (majorityGate.ts). */
  private readonly gate: MajorityGate | undefined;
  private local: LocalHub | undefined;
  /** Hubs that stopped being voters, owed the commit point up to their leaving. */
  private readonly leaving = new LeavingVoters();
  /** Voter hubs as the rooms' MLS external senders, so any can kick (hubEnlisting.ts). */
  private readonly enlisting: HubEnlisting;
  /** The authority's side of replication (replicationFanout.ts). */
  private readonly fanout: ReplicationFanout;
  /** What of the hub's output is federation's (sinkRouting.ts). */
  private readonly routing: SinkRouting;
  /** Envelopes arriving over the links (envelopeIntake.ts). */
  private readonly envelopes: EnvelopeIntake;

  constructor(private readonly d: FederationDeps) {
    const startedAt = d.clock.now();
    this.relay = new OnwardRelay({
      self: d.peers.domain,
      peers: d.peers,
      signer: d.signer,
      clock: d.clock,
      linked: (domain) => this.reach.isDirect(domain),
      sendRaw: (domain, bytes) => d.links.send(domain, bytes),
      count: (code) => this.count(code),
      ...(d.keepaliveMs === undefined ? {} : { keepaliveMs: d.keepaliveMs }),
    });
    this.reach = new PeerReach({
      peers: d.peers,
      links: d.links,
      signer: d.signer,
      clock: d.clock,
      relay: this.relay,
      startedAt,
      reached: (domain) => this.reached(domain),
      lost: (domain) => this.lost(domain),
    });
    this.devices = new RemoteDevices(d.storage);
    this.book = new AuthorityBook({ storage: d.storage, clock: d.clock });
    this.replica = new ReplicaLog(
      d.storage,
      (header) => replicaAck(d.signer, header),
      (roomId, logIndex) => this.local?.eraseCopy?.(roomId, logIndex),
    );
    this.enlisting = new HubEnlisting(
      d.peers.domain,
      (domain) => this.keyOf(domain),
      () => this.local,
    );
    const send = (domain: string, frame: Uint8Array, extra: EnvelopeExtra) =>
      this.reach.send(domain, frame, extra);
    const ports: FederationPorts = {
      send,
      sink: (t, f) => this.local?.sink(t, f),
      signer: d.signer,
      count: (code) => this.count(code),
    };
    this.forwarding = new Forwarding({
      ports,
      isUp: (domain) => this.reach.isUp(domain),
      learnDevice: (senderId, domain, userId) => this.devices.vouched(senderId, domain, userId),
      retryAfterMs: d.retryAfterMs ?? 1000n,
      relayAnswer: (inner) => this.relayFilter.page(d.signer, inner),
    });
    this.relayFilter = new RelayFilter(d.bans, d.storage, d.clock);
    const majority = d.ackQuorum === "majority";
    const self = d.peers.domain;
    this.facts = new RoomFacts({ storage: d.storage, clock: d.clock, self });
    this.intake = new ReplicaIntake(ports, this.book, this.replica, {
      majority,
      facts: this.facts,
      filter: this.relayFilter,
      authorityOf: (roomId) => this.recordOf(roomId),
      unverified: (domain, key, inner, e) => this.trust.hold(domain, key, inner, e),
      missedTerm: (domain, roomId) =>
        this.trust.claimed(domain, roomId, (this.recordOf(roomId)?.term ?? 0n) + 1n),
      promised: (roomId) => this.transfers.record(roomId)?.vote?.term ?? 0n,
      handingOver: (roomId) => this.transfers.status(roomId)?.role === "handing_over",
      // What this hub held when it handed the room over goes once the successor committed it.
      committed: (roomId, term, commit) => this.gate?.told(roomId, term, commit),
    });
    this.ephemeral = new EphemeralRelay({
      ports,
      ...(d.ephemeralAllowance === undefined ? {} : { allowance: d.ephemeralAllowance }),
      book: this.book,
      filter: this.relayFilter,
      self: () => this.domain,
      domainOf: (s) => this.devices.domainOf(s),
      localMembers: (roomId) => this.intake.localMembers(roomId),
    });
    if (majority) {
      this.gate = new MajorityGate({
        self,
        signer: d.signer,
        restore: (roomId) => {
          const voters = this.isRemoteRoom(roomId) ? undefined : this.facts.voters(roomId);
          return voters === undefined
            ? undefined
            : { voters, durable: d.storage.nextIndex(roomId) };
        },
        termStart: (roomId) => {
          const term = this.book.authorityOf(roomId)?.term ?? 0n;
          // Recorded when the hub took the term (roomFacts.ts `takeTerm`); 0 for a room
          // taken before this was recorded (counted as before).
          return { term, start: this.facts.startOf(roomId, term) ?? 0n };
        },
        known: (roomId) => this.intake.commit(roomId) ?? 0n,
        nudge: (roomId, voters) => this.fanout.sendLogState(roomId, voters, {}),
        deliver: (t, f) => this.routing.deliver(t, f),
        committed: (roomId, voters, commit) => {
          const to = this.leaving.recipients(roomId, voters, commit);
          this.fanout.sendLogState(roomId, to, { commit });
        },
      });
    }
    const records = new TermRecords({ storage: d.storage, clock: d.clock, self });
    this.transfers = new RoomTransfers({
      self,
      signer: d.signer,
      clock: d.clock,
      rng: d.rng ?? NO_RNG,
      storage: d.storage,
      book: this.book,
      records,
      keyOf: (domain) => this.keyOf(domain),
      isUp: (domain) => this.reach.isUp(domain),
      send: (domain, frame) => send(domain, frame, {}),
      local: () => this.local,
      replicaSettled: (roomId) => this.replica.settled(roomId),
      facts: this.facts,
      downFor: (domain) => this.reach.downFor(domain),
      handedOver: (roomId, term) => {
        // What this hub committed stays so: its devices read it from the replica at once.
        const commit = this.gate?.commit(roomId);
        if (commit !== undefined) this.intake.handedOver(roomId, commit);
        this.gate?.handedOver(roomId, term);
      },
      deposed: (roomId) => this.gate?.drop(roomId),
      catchUp: (domain, roomId) => this.intake.resume(domain, [roomId]),
      claimed: (domain, roomId, term) => this.trust.claimed(domain, roomId, term),
      giveWay: async (roomId, term, from) => {
        const a = this.book.authorityOf(roomId);
        return a === undefined ? 0n : this.intake.giveWay(a.domain, roomId, term, from);
      },
      count: (code) => this.count(code),
      failoverAfterMs: d.failoverAfterMs ?? 3000,
      retryAfterMs: d.retryAfterMs ?? 1000n,
    });
    this.trust = new TermFetch({
      ports,
      clock: d.clock,
      self,
      record: (roomId) => this.recordOf(roomId),
      adopt: (roomId, cert) => this.transfers.adopt(roomId, cert),
      // Learnt from a chain: the replica catches up from the new authority, whose frames it
      // may have missed (nothing else would ask: fed_hubs_transfer seed 665017756).
      learn: async (roomId, domain, term) => {
        await this.book.learn(roomId, domain, term);
        this.intake.resume(domain, [roomId]);
      },
      audience: (roomId) => ({
        voters: this.facts.voters(roomId),
        authority: this.book.authorityOf(roomId)?.domain,
        chain: records.chain(roomId, 0n, Number.POSITIVE_INFINITY),
      }),
      replay: (domain, key, inner, e) => this.intake.sequenced(domain, key, inner, e),
    });
    const parts = {
      self,
      signer: d.signer,
      book: this.book,
      facts: this.facts,
      gate: this.gate,
      devices: this.devices,
      intake: this.intake,
      transfers: this.transfers,
      ephemeral: this.ephemeral,
      local: () => this.local,
      isRemoteRoom: (roomId: bigint) => this.isRemoteRoom(roomId),
      send,
      count: (code: ProtocolErrorCode) => this.count(code),
    };
    this.fanout = new ReplicationFanout({
      ...parts,
      storage: d.storage,
      leaving: this.leaving,
      // On unless switched off (`federation.enlist_hubs = false`).
      enlisting: d.enlistHubs === false ? undefined : this.enlisting,
    });
    this.routing = new SinkRouting({ ...parts, fanout: this.fanout });
    this.envelopes = new EnvelopeIntake({
      ...parts,
      peers: d.peers,
      reach: this.reach,
      relay: this.relay,
      forwarding: this.forwarding,
      trust: this.trust,
      fanout: this.fanout,
      rooms: this,
      authority: d.authority,
    });
  }

  /** The room's authority and term as this hub's term record says. */
  private recordOf(roomId: bigint): { domain: string; term: bigint } | undefined {
    const rec = this.transfers.record(roomId);
    return rec === undefined ? undefined : { domain: rec.authority, term: rec.term };
  }

  /**
   * Starts a planned transfer of a room this hub sequences to `to` (roomTransfers.ts):
   * resolves once the new authority took the room over, or with why it did not.
   */
  transfer(roomId: bigint, to: string): Promise<TransferResult> {
    return this.transfers.transfer(roomId, to);
  }

  /** Periodic work of the rooms' authority (resends, expiry, handovers); every ~100 ms. */
  tick(): void {
    this.reach.tick();
    this.transfers.tick();
    this.gate?.tick(this.d.clock.now(), this.transfers.h.failoverAfterMs);
    this.trust.tick();
  }

  /**
   * Who sequences the room in which term, and this hub's part; undefined for no room. The
   * commit index is what a majority holds: the gate's at the authority, as the authority
   * last told a replica (majority mode), else the log's length.
   */
  roomAuthority(roomId: bigint): RoomAuthorityStatus | undefined {
    const s = this.transfers.status(roomId);
    if (s === undefined) return s;
    const commit =
      s.authority === this.domain ? this.gate?.commit(roomId) : this.intake.commit(roomId);
    if (commit === undefined || commit >= s.commitIndex) return s;
    return { ...s, commitIndex: commit };
  }

  /**
   * `roomAuthority`, or, for a room that never moved whose log only its shard holds (worker
   * shards), this hub in term 0 (what the admin API answers).
   */
  async roomAuthorityOf(roomId: bigint): Promise<RoomAuthorityStatus | undefined> {
    const s = this.roomAuthority(roomId) ?? (await shardRoomStatus(this.transfers.h, roomId));
    const commit = s?.authority === this.domain ? this.gate?.commit(roomId) : undefined;
    return s === undefined || commit === undefined || commit >= s.commitIndex
      ? s
      : { ...s, commitIndex: commit };
  }

  /**
   * Why a write to the room may not be sequenced here now (the sequencer asks before it
   * decides): TRANSFERRING while the room moves, NOT_AUTHORITY once another hub has it.
   */
  writeRefusal(roomId: bigint): Refusal | undefined {
    const wait = this.transferring(roomId);
    if (wait !== undefined) {
      return { ...refuse("TRANSFERRING", "the room's authority is moving"), retryAfterMs: wait };
    }
    const a = this.book.authorityOf(roomId);
    if (a === undefined || a.domain === this.domain) return undefined;
    return { ...refuse("NOT_AUTHORITY", `${a.domain} is`), term: a.term };
  }

  private keyOf(domain: string): Uint8Array | undefined {
    if (domain === this.domain) return this.d.signer.publicKey;
    const admitted = this.d.peers.admit(domain);
    return admitted.ok ? admitted.hubKey : undefined;
  }

  get domain(): string {
    return this.d.peers.domain;
  }

  /** The hub this core serves (set once, after the hub core is built around it). */
  attach(local: LocalHub): void {
    this.local = local;
  }

  linkUp(domain: string, hubKey: Uint8Array): void {
    this.reach.linkUp(domain, hubKey);
  }

  linkDown(domain: string): void {
    this.reach.linkDown(domain);
  }

  linkFrame(domain: string, bytes: Uint8Array): void {
    this.envelopes.linkFrame(domain, bytes);
  }

  /** A peer became reachable (peerReach.ts): transfers and replicas resume with it. */
  private reached(domain: string): void {
    this.transfers.linkUp(domain);
    const rooms = this.book.remoteRooms(this.domain);
    this.intake.resume(
      domain,
      rooms.filter((r) => this.book.authorityOf(r)?.domain === domain),
    );
    this.d.authority?.onLinkChange?.(domain, true);
  }

  /** A peer stopped being reachable: its devices are no longer live here. */
  private lost(domain: string): void {
    for (const senderId of this.devices.liveOf(domain)) this.local?.remoteLive?.(senderId, false);
    this.devices.forgetLive(domain);
    this.intake.linkDown(domain);
    this.d.authority?.onLinkChange?.(domain, false);
  }

  isUp(domain: string): boolean {
    return this.reach.isUp(domain);
  }

  /** A device of another hub whose user its home vouched for (identity/leafBinding.ts). */
  remoteOwner(senderId: bigint): StoredDevice | undefined {
    return this.devices.owner(senderId);
  }

  /** True when another hub sequences this room (its log here is a replica). */
  isRemoteRoom(roomId: bigint): boolean {
    const a = this.book.authorityOf(roomId);
    return a !== undefined && a.domain !== this.domain;
  }

  /** A hub frame of this hub's own (an authority frame) to a peer, in an envelope. */
  sendHubFrame(domain: string, frame: Uint8Array, extra: { to?: bigint[] } = {}): void {
    this.reach.send(domain, frame, extra);
  }

  /**
   * Forwards a local user's request to `domain` (a remote room's authority, or the home of
   * a user whose key packages are claimed): forwarding.ts.
   */
  forward(sessionId: string, frame: Frame, from: PeerRequester, domain: string): Outcome {
    const spent = this.ephemeral.admit(frame);
    if (spent !== undefined) return this.forwarding.refuse(sessionId, frame, spent);
    return this.forwarding.forward(sessionId, frame, from, domain);
  }

  /** SYNC_REQUEST on a replicated room: replicaIntake.ts. */
  serveSync(sessionId: string, frame: Frame, from: PeerRequester, page: SyncPageReader): Outcome {
    return this.intake.serveSync(sessionId, frame, from, page, this.forwarding);
  }

  /** The retry hint while this hub hands the room over (TRANSFERRING), or undefined. */
  transferring(roomId: bigint): bigint | undefined {
    if (this.d.authority !== undefined) return this.d.authority.transferring?.(roomId);
    return this.transfers.transferring(roomId);
  }

  /** Answers a local session's request with a refusal. */
  refuse(sessionId: string, frame: Frame, r: Refusal): Outcome {
    return this.forwarding.refuse(sessionId, frame, r);
  }

  /**
   * The hub's sink passes every target here first: true when it was federation's (sent to
   * a peer), false when it is for local sessions only (sinkRouting.ts).
   */
  intercept(target: Target, frame: Uint8Array): boolean {
    return this.routing.intercept(target, frame);
  }

  /**
   * True for what this hub's shards emit for a room another hub sequences now (an entry of
   * a term that gave way): the runtimes drop these before the sink (sinkRouting.ts).
   */
  staleShardOutput(target: Target, frame: Uint8Array): boolean {
    return this.routing.staleShardOutput(target, frame);
  }

  private count(code: ProtocolErrorCode): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
  }
}
