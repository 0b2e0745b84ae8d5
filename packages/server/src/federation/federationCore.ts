// Kept whole at ~430 lines: the one dispatcher of link frames and sink targets; its parts
// (forwarding, replica intake, transfers, majority gate, peer rules) live in their modules.
/**
 * The federation core (DESIGN §11, issue 18): rooms across hubs, without I/O. Driven by the
 * link runtime through `FederationInputs` (linkUp/linkDown/linkFrame) and by the hub core
 * (`forward`, `serveSync`, `intercept`); it sends through `PeerLinks` and delivers locally
 * through the hub's sink.
 *
 * - As a room's authority: a peer's forwarded request (inner frame signed by its device,
 *   user and device key vouched for by the peer's envelope, the user's domain the peer's)
 *   goes to the hub core like a local session's (`LocalHub.peerRequest`); its answers go
 *   back in an envelope. Each sequenced frame goes once to every participating hub with the
 *   room's term and a position signature (`replicas` targets from the shards); Welcomes and
 *   commit requests for remote devices go to their hub; a replica's catch-up is answered.
 * - As a participating hub: its users' requests are forwarded (forwarding.ts), the
 *   authority's frames go into the replica (replicaIntake.ts).
 *
 * Every refusal of a peer's frame is typed (`refused` counts by code) and never stored.
 */
import {
  ackFrame,
  type DeviceSigner,
  decodePayload,
  errorFrame,
  Flag,
  type Frame,
  FrameHeader,
  hubFrame,
  isEphemeral,
  isProtocolError,
  Opcode,
  openEnvelope,
  type ProtocolErrorCode,
  responseFrame,
  sealEnvelope,
  signFrame,
  signPosition,
  verifyFrame,
} from "@kalandra/proto";
import type { StoredDevice } from "../storage/types.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { ReplicaPeer, Target } from "../vocabulary/target.js";
import { TermRecords } from "./authority/termRecords.js";
import { AuthorityBook } from "./authorityBook.js";
import type { AuthorityFrame, FederationInputs } from "./contract.js";
import { type FederationDeps, type LocalHub, NO_RNG } from "./coreDeps.js";
import { EphemeralRelay, isEphemeralBytes } from "./ephemeralRelay.js";
import { Forwarding, type PeerRequester } from "./forwarding.js";
import { HubEnlisting } from "./hubEnlisting.js";
import { LeavingVoters } from "./leavingVoters.js";
import { MajorityGate, shownEntry } from "./majorityGate.js";
import { OnwardRelay } from "./onwardRelay.js";
import { peerRequestProblem } from "./peerRequests.js";
import { type EnvelopeExtra, type FederationPorts, ownCopy } from "./ports.js";
import { RelayFilter } from "./relayFilter.js";
import { ReplicaLog } from "./replica.js";
import { ReplicaIntake, type SyncPageReader } from "./replicaIntake.js";
import { RoomFacts } from "./roomFacts.js";
import { type RoomAuthorityStatus, RoomTransfers, type TransferResult } from "./roomTransfers.js";
import { TermFetch } from "./trust/termFetch.js";

export type { FederationDeps, LocalHub, RoomHandover } from "./coreDeps.js";
export type { PeerRequester } from "./forwarding.js";
export { transferringRefusal } from "./peerRequests.js";
export type { SyncPage, SyncPageReader } from "./replicaIntake.js";
export type { AuthorityRole, RoomAuthorityStatus, TransferResult } from "./roomTransfers.js";

/** The ACK this hub records for a replicated entry (replica.ts `ReplicaAck`). */
function replicaAck(signer: DeviceSigner, header: Uint8Array): Uint8Array {
  const h = FrameHeader.view(header);
  const ack = ackFrame(h, h.logIndex, h.hlcTimestamp);
  signFrame(ack, signer);
  return ack;
}

/** Reply session ids of forwarded requests: `fed:<domain>:<sender_id hex>`. */
const PEER_SESSION = "fed:";

const AUTHORITY_KINDS = new Map<number, AuthorityFrame["kind"]>([
  [Opcode.AUTHORITY_PROPOSE, "propose"],
  [Opcode.AUTHORITY_VOTE, "vote"],
  [Opcode.AUTHORITY_COMMIT, "commit"],
  [Opcode.HANDOVER_CERT, "certificate"],
]);

export class FederationCore implements FederationInputs {
  readonly book: AuthorityBook;
  readonly replica: ReplicaLog;
  /** Refused peer frames by error code (metrics: frames refused per peer are the runtime's). */
  readonly refused = new Map<ProtocolErrorCode, number>();
  /** Peers reachable now (own link, or their via's) with their pinned keys. */
  private readonly up = new Map<string, Uint8Array>();
  /** Peers whose own link is up. */
  private readonly direct = new Set<string>();
  /** Frames to and through hubs without a link of their own (onwardRelay.ts). */
  readonly relay: OnwardRelay;
  /**
   * Devices of other hubs this hub learned of: sender_id → home domain, and user when the
   * home vouched for it (a forwarded request, a key-package claim it answered).
   */
  private readonly remoteDevices = new Map<bigint, { domain: string; userId?: string }>();
  /** Remote devices reported live to the hub, by their hub's domain. */
  private readonly live = new Map<string, Set<bigint>>();
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
  /** When each peer's link went down (or this core started, for links never up). */
  private readonly downSince = new Map<string, bigint>();
  private readonly startedAt: bigint;
  /** `ack_quorum = "majority"` at the authority (majorityGate.ts). */
  private readonly gate: MajorityGate | undefined;
  private local: LocalHub | undefined;
  /** Hubs that stopped being voters, owed the commit point up to their leaving. */
  private readonly leaving = new LeavingVoters();
  /** Voter hubs as the rooms' MLS external senders, so any can kick (hubEnlisting.ts). */
  private readonly enlisting: HubEnlisting;

  constructor(private readonly d: FederationDeps) {
    this.startedAt = d.clock.now();
    this.relay = new OnwardRelay({
      self: d.peers.domain,
      peers: d.peers,
      signer: d.signer,
      clock: d.clock,
      linked: (domain) => this.direct.has(domain),
      sendRaw: (domain, bytes) => d.links.send(domain, bytes),
      count: (code) => this.count(code),
      ...(d.keepaliveMs === undefined ? {} : { keepaliveMs: d.keepaliveMs }),
    });
    this.book = new AuthorityBook({ storage: d.storage, clock: d.clock });
    this.replica = new ReplicaLog(d.storage, (header) => replicaAck(d.signer, header));
    this.enlisting = new HubEnlisting(
      d.peers.domain,
      (domain) => this.keyOf(domain),
      () => this.local,
    );
    const ports: FederationPorts = {
      send: (domain, frame, extra) => this.send(domain, frame, extra),
      sink: (t, f) => this.local?.sink(t, f),
      signer: d.signer,
      count: (code) => this.count(code),
    };
    this.forwarding = new Forwarding({
      ports,
      isUp: (domain) => this.up.has(domain),
      learnDevice: (senderId, domain, userId) =>
        this.remoteDevices.set(senderId, { domain, userId }),
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
      authorityOf: (roomId) => {
        const rec = this.transfers.record(roomId);
        return rec === undefined ? undefined : { domain: rec.authority, term: rec.term };
      },
      unverified: (domain, key, inner, e) => this.trust.hold(domain, key, inner, e),
      missedTerm: (domain, roomId) =>
        this.trust.claimed(domain, roomId, (this.recordOf(roomId)?.term ?? 0n) + 1n),
      promised: (roomId) => this.transfers.record(roomId)?.vote?.term ?? 0n,
    });
    this.ephemeral = new EphemeralRelay({
      ports,
      ...(d.ephemeralAllowance === undefined ? {} : { allowance: d.ephemeralAllowance }),
      book: this.book,
      filter: this.relayFilter,
      self: () => this.domain,
      domainOf: (s) => this.remoteDevices.get(s)?.domain,
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
        deliver: (t, f) => {
          if (!this.route(t, f)) this.local?.sink(t, f);
        },
        committed: (roomId, voters, commit) =>
          this.sendLogState(roomId, this.leaving.recipients(roomId, voters, commit), { commit }),
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
      isUp: (domain) => this.up.has(domain),
      send: (domain, frame) => this.send(domain, frame, {}),
      local: () => this.local,
      replicaSettled: (roomId) => this.replica.settled(roomId),
      facts: this.facts,
      downFor: (domain) =>
        this.up.has(domain)
          ? undefined
          : d.clock.now() - (this.downSince.get(domain) ?? this.startedAt),
      handedOver: (roomId) => this.gate?.releaseAll(roomId),
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
    for (const p of this.relay.tick()) if (this.up.has(p) && !this.direct.has(p)) this.unreach(p);
    this.transfers.tick();
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
    this.direct.add(domain);
    this.reach(domain, hubKey);
    // Peers routed through it are reachable with it (their own pinned keys).
    for (const p of this.relay.routedThrough(domain)) {
      const admitted = this.d.peers.admit(p);
      if (admitted.ok && !this.direct.has(p)) this.reach(p, admitted.hubKey);
      this.relay.heard(p);
    }
  }

  linkDown(domain: string): void {
    this.direct.delete(domain);
    this.unreach(domain);
    for (const p of this.relay.routedThrough(domain)) if (!this.direct.has(p)) this.unreach(p);
  }

  /** A peer became reachable: over its own link or through its via. */
  private reach(domain: string, hubKey: Uint8Array): void {
    this.up.set(domain, new Uint8Array(hubKey));
    this.downSince.delete(domain);
    this.transfers.linkUp(domain);
    const rooms = this.book.remoteRooms(this.domain);
    this.intake.resume(
      domain,
      rooms.filter((r) => this.book.authorityOf(r)?.domain === domain),
    );
    this.d.authority?.onLinkChange?.(domain, true);
  }

  private unreach(domain: string): void {
    if (this.up.has(domain)) this.downSince.set(domain, this.d.clock.now());
    this.up.delete(domain);
    for (const senderId of this.live.get(domain) ?? []) this.local?.remoteLive?.(senderId, false);
    this.live.delete(domain);
    this.intake.linkDown(domain);
    this.d.authority?.onLinkChange?.(domain, false);
  }

  isUp(domain: string): boolean {
    return this.up.has(domain);
  }

  /** A device of another hub whose user its home vouched for (identity/leafBinding.ts). */
  remoteOwner(senderId: bigint): StoredDevice | undefined {
    const r = this.remoteDevices.get(senderId);
    if (r?.userId === undefined) return undefined;
    return { senderId, deviceKey: new Uint8Array(0), userId: r.userId, boundAt: 0n };
  }

  /** True when another hub sequences this room (its log here is a replica). */
  isRemoteRoom(roomId: bigint): boolean {
    const a = this.book.authorityOf(roomId);
    return a !== undefined && a.domain !== this.domain;
  }

  /** A hub frame of this hub's own (an authority frame) to a peer, in an envelope. */
  sendHubFrame(domain: string, frame: Uint8Array, extra: { to?: bigint[] } = {}): void {
    this.send(domain, frame, extra);
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
   * a peer), false when it is for local sessions only.
   */
  intercept(target: Target, frame: Uint8Array): boolean {
    if (this.gate?.hold(target, frame) === true) return true;
    const clipped = this.gate?.clip(target, frame);
    if (clipped !== undefined) {
      if (!this.route(target, clipped)) this.local?.sink(target, clipped);
      return true;
    }
    return this.route(target, frame);
  }

  /**
   * True for what this hub's shards emit (a sequencer's ACK, fan-out, Welcome or copy for
   * the replicas) for a room another hub sequences now: an entry of a term that gave way,
   * never shown to anyone. With worker shards the write refusal travels with each request,
   * so a request routed while this hub was the room's authority is sequenced by the worker
   * after a failover deposed it (issue 18 (c)). The runtimes drop these before the sink.
   */
  staleShardOutput(target: Target, frame: Uint8Array): boolean {
    if (target.kind === "replicas") return this.deposedHere(target.roomId);
    const shown = shownEntry(target, frame);
    return shown !== undefined && this.deposedHere(shown.roomId);
  }

  /**
   * Another hub sequences the room now, by this hub's book or its term record (adopted just
   * before the book learns it); not while this hub hands the room over (its last entries'
   * answers may still come while the shards drain: roomTransfers.ts handOver).
   */
  private deposedHere(roomId: bigint): boolean {
    const rec = this.transfers.h.records.get(roomId);
    const elsewhere =
      this.isRemoteRoom(roomId) || (rec !== undefined && rec.authority !== this.domain);
    return elsewhere && this.transfers.status(roomId)?.role !== "handing_over";
  }

  /** Sends what is for other hubs; false when `target` is for local sessions only. */
  private route(target: Target, frame: Uint8Array): boolean {
    switch (target.kind) {
      case "replicas":
        this.replicate(target.roomId, target.peers, frame, target.roomState);
        return true;
      case "session": {
        if (!target.sessionId.startsWith(PEER_SESSION)) return false;
        const rest = target.sessionId.slice(PEER_SESSION.length);
        const sep = rest.lastIndexOf(":");
        this.send(rest.slice(0, sep), frame, { to: [BigInt(`0x${rest.slice(sep + 1)}`)] });
        return true;
      }
      case "members":
        // Presence/typing: the share of other hubs' devices goes to their hubs.
        if (isEphemeralBytes(frame)) {
          this.ephemeral.relay(
            target.senderIds,
            frame,
            this.userOf(FrameHeader.view(frame).senderId),
          );
        }
        return false;
      case "device": {
        const remote = this.remoteDevices.get(target.senderId);
        if (remote === undefined) return false;
        this.send(remote.domain, frame, { to: [target.senderId] });
        return true;
      }
      default:
        return false;
    }
  }

  linkFrame(domain: string, bytes: Uint8Array): void {
    void this.onLinkFrame(domain, bytes).catch((e: unknown) => {
      if (isProtocolError(e)) this.count(e.code);
      else throw e;
    });
  }

  private async onLinkFrame(link: string, bytes: Uint8Array): Promise<void> {
    const linkKey = this.up.get(link);
    if (linkKey === undefined) return this.count("PEER_NOT_CONFIGURED");
    const { envelope, inner } = openEnvelope(bytes, linkKey, { maxHops: this.d.peers.maxHops });
    // For another hub: relayed one hop on (onwardRelay.ts), never looked into here.
    const dest = envelope.dest;
    if (dest !== undefined && dest !== this.domain)
      return this.relay.pass(link, { ...envelope, dest });
    // The origin is the link's peer, or a hub it relays for whose own signature holds.
    const key = envelope.origin === link ? linkKey : this.relay.accept(link, envelope);
    if (key === undefined) return;
    const domain = envelope.origin;
    // A routed peer heard again after a silence (onwardRelay.ts keepalive) is reachable.
    if (!this.up.has(domain)) this.reach(domain, key);
    const h = inner.header;
    if (h.opcode === Opcode.PING && h.senderId === 0n) return; // a routed peer's keepalive
    // A frame the authority sequenced carries its position proof, whoever signed the frame.
    if (envelope.position_sig !== undefined) {
      return this.intake.sequenced(domain, key, inner, envelope);
    }
    // Presence/typing the authority relays to this hub's members (no device key: not a request).
    if (isEphemeral(h.opcode) && envelope.device_key === undefined) {
      return this.ephemeral.arrived(domain, inner, envelope);
    }
    if (h.senderId !== 0n) return this.fromPeerUser(domain, inner, envelope);
    const kind = AUTHORITY_KINDS.get(h.opcode);
    if (kind !== undefined) return this.toAuthority(domain, inner, key, kind);
    if ((h.flags & Flag.RESPONSE) !== 0) {
      const sender = envelope.to?.[0];
      if (sender === undefined) return this.count("BAD_PAYLOAD");
      if (sender === 0n) return this.intake.pageArrived(domain, inner, envelope);
      return this.forwarding.answered(domain, inner, sender);
    }
    if (h.opcode === Opcode.SYNC_REQUEST) return this.answerCatchUp(domain, inner);
    if (h.opcode === Opcode.FED_LOG_STATE) return this.logState(domain, inner, key);
    if (h.opcode === Opcode.TERM_CHAIN_FETCH || h.opcode === Opcode.TERM_CHAIN) {
      if (!verifyFrame(inner, key)) return this.count("BAD_HUB_SIGNATURE");
      return this.trust.onFrame(domain, inner);
    }
    // A Welcome or commit request the authority sends to devices of this hub.
    if (h.opcode === Opcode.WELCOME || h.opcode === Opcode.COMMIT_REQUEST) {
      if (h.opcode === Opcode.WELCOME) await this.book.learn(h.roomId, domain, 0n);
      const bytes = ownCopy(this.d.signer, inner);
      for (const senderId of envelope.to ?? []) {
        this.local?.sink({ kind: "device", senderId }, bytes);
      }
      return;
    }
    this.count("BAD_PAYLOAD");
  }

  /** A request one of `domain`'s users sent, forwarded by its hub. */
  private async fromPeerUser(
    domain: string,
    inner: Frame,
    e: { user_id?: string; device_key?: Uint8Array },
  ): Promise<void> {
    const h = inner.header;
    const refused = peerRequestProblem(this, domain, inner, e) ?? this.ephemeral.admit(inner);
    if (refused !== undefined) {
      this.count(refused.code);
      this.send(domain, errorFrame(h, refused), { to: [h.senderId] });
      return;
    }
    const userId = e.user_id as string;
    const deviceKey = e.device_key as Uint8Array;
    this.remoteDevices.set(h.senderId, { domain, userId });
    let live = this.live.get(domain);
    if (live === undefined) {
      live = new Set();
      this.live.set(domain, live);
    }
    if (!live.has(h.senderId)) {
      live.add(h.senderId);
      this.local?.remoteLive?.(h.senderId, true);
    }
    const reply = `${PEER_SESSION}${domain}:${h.senderId.toString(16)}`;
    await this.local?.peerRequest(reply, inner, { senderId: h.senderId, deviceKey, userId });
  }

  /**
   * A replica's catch-up request, answered from this hub's log of the room it sequences or
   * hands over, or for the hub it handed the room to (the new authority fetches the tail
   * before it installs the room, also after this hub restarted); else refused, so the
   * replica may ask again elsewhere.
   */
  private async answerCatchUp(domain: string, inner: Frame): Promise<void> {
    const h = inner.header;
    const a = this.book.authorityOf(h.roomId);
    const role = this.transfers.status(h.roomId)?.role;
    // Elected but still fetching the log's end: its log (or its sequencer's, from an earlier
    // term) is short of the room's; the hub handing over would give its own up for it
    // (fed_hubs_transfer seed 359).
    if (role === "awaiting_handover") {
      this.count("TRANSFERRING");
      const refusal = refuse("TRANSFERRING", "the room is being handed to this hub");
      this.send(domain, errorFrame(h, refusal), { to: [0n] });
      return;
    }
    // The hub this one handed the room to may fetch the tail (also after a restart, the
    // transfer in memory lost); a mere replica answers no one, not even the authority it
    // follows (fed_hubs_transfer seed 359: a replica whose sequencer still held the room from
    // an earlier term answered the hub handing over with its shorter log, which that hub
    // then took for the new authority's and gave its own log up for).
    const rec = this.transfers.record(h.roomId);
    const p = rec?.certificate?.proposal;
    const handedTo = rec?.authority === domain && p?.kind === "planned" && p.from === this.domain;
    const handing = role === "handing_over" || handedTo;
    if (this.isRemoteRoom(h.roomId) && !handing) {
      this.count("NOT_AUTHORITY");
      this.send(domain, errorFrame(h, refuse("NOT_AUTHORITY", `${a?.domain} is`)), { to: [0n] });
      return;
    }
    const { from, limit } = decodePayload(Opcode.SYNC_REQUEST, inner.payload);
    const page = await this.local?.syncPage(h.roomId, from, limit);
    const answer =
      page === undefined
        ? errorFrame(h, refuse("UNKNOWN_ROOM", "no such room"))
        : responseFrame(this.d.signer, h, Opcode.SYNC_PAGE, page);
    // A page that ends the log carries the room's state there (a replica's way to failover).
    let roomState: Uint8Array | undefined;
    if (page !== undefined && page.entries.length > 0 && page.next === page.head) {
      const room = await this.local?.handoverOf?.(h.roomId);
      if (room?.nextIndex === page.head) roomState = room.roomState;
    }
    // Where each term starts in this log: the replica learns every fetched entry's term.
    const termStarts = this.facts.starts(h.roomId);
    const state = roomState === undefined ? {} : { roomState };
    this.send(domain, answer, { to: [0n], termStarts, ...state });
  }

  private toAuthority(
    domain: string,
    inner: Frame,
    key: Uint8Array,
    kind: AuthorityFrame["kind"],
  ): Promise<void> | undefined {
    // Authority frames are signed by their author, the peer itself on a direct link.
    if (!verifyFrame(inner, key)) {
      this.count("BAD_HUB_SIGNATURE");
      return;
    }
    const handler = this.d.authority;
    if (handler === undefined) return this.transfers.onFrame(domain, inner);
    const payload = decodePayload(
      inner.header.opcode as typeof Opcode.AUTHORITY_COMMIT,
      inner.payload,
    );
    handler.onAuthorityFrame(domain, { kind, frame: inner, payload } as AuthorityFrame);
  }

  /** FED_LOG_STATE: a replica's durable length (here the authority) or the commit point. */
  private logState(domain: string, inner: Frame, key: Uint8Array): void {
    if (!verifyFrame(inner, key)) {
      this.count("BAD_HUB_SIGNATURE");
      return;
    }
    const roomId = inner.header.roomId;
    const m = decodePayload(Opcode.FED_LOG_STATE, inner.payload);
    const term = this.book.authorityOf(roomId)?.term ?? 0n;
    // A voter promised a higher term and refuses this hub's frames: take the room again.
    if (m.term > term && !this.isRemoteRoom(roomId)) this.transfers.reclaim(roomId, m.term);
    if (m.term !== term) return;
    if (this.isRemoteRoom(roomId)) {
      if (this.book.authorityOf(roomId)?.domain !== domain) return;
      if (m.voters !== undefined) void this.facts.setVoters(roomId, m.voters);
      this.intake.committed(domain, roomId, m.commit);
    } else this.gate?.replicated(roomId, domain, m.durable);
  }

  /** A frame this hub sequenced, once to each participating hub with its position proof. */
  private replicate(
    roomId: bigint,
    peers: readonly ReplicaPeer[],
    frame: Uint8Array,
    roomState?: Uint8Array,
  ): void {
    if (this.isRemoteRoom(roomId)) return;
    const term = this.book.authorityOf(roomId)?.term ?? 0n;
    const positionSig = signPosition(this.d.signer, term, frame);
    const withMembers = peers.filter((p) => p.members.length > 0).map((p) => p.domain);
    const voters = [...new Set([this.domain, ...withMembers])].sort();
    const known = this.facts.voters(roomId);
    const changed = known === undefined || known.join() !== voters.join();
    const header = FrameHeader.view(frame);
    const length = header.logIndex + 1n;
    if (changed) this.leaving.changed(roomId, known, voters, length);
    this.gate?.sequenced(roomId, voters, length);
    // Who sent it, for the participating hubs' bans over what they relay (relayFilter.ts).
    const userId = this.userOf(header.senderId);
    for (const p of peers) {
      if (p.domain === this.domain) continue;
      for (const s of [...p.members, ...p.fanout]) {
        if (!this.remoteDevices.has(s)) this.remoteDevices.set(s, { domain: p.domain });
      }
      const to = [...p.fanout];
      const members = [...p.members];
      const state = roomState === undefined ? {} : { roomState };
      const who = userId === undefined ? {} : { userId };
      this.send(p.domain, frame, { term, positionSig, to, members, ...state, ...who });
    }
    if (changed) {
      // The voters changed: every voter learns them (what a failover proposal lists).
      void this.facts.setVoters(roomId, voters);
      this.sendLogState(roomId, voters, { voters });
    }
    // Any voter may sequence the room one day: each must be able to kick (enlistHubs.ts).
    // Checked again at each commit, which may be what lets a pending enlisting through.
    const op = header.opcode;
    if (this.d.enlistHubs && (changed || op === Opcode.COMMIT || op === Opcode.EXTERNAL_COMMIT))
      this.enlisting.check(roomId, voters);
  }

  /** FED_LOG_STATE of a room this hub sequences, to its other voters. */
  private sendLogState(
    roomId: bigint,
    voters: readonly string[],
    extra: { commit?: bigint; voters?: readonly string[] },
  ): void {
    const frame = hubFrame(this.d.signer, Opcode.FED_LOG_STATE, roomId, 0n, {
      term: this.book.authorityOf(roomId)?.term ?? 0n,
      durable: this.d.storage.nextIndex(roomId),
      commit: extra.commit ?? this.gate?.commit(roomId) ?? this.d.storage.nextIndex(roomId),
      ...(extra.voters === undefined ? {} : { voters: [...extra.voters] }),
    });
    for (const v of voters) if (v !== this.domain) this.send(v, frame, {});
  }

  /** The user of a device of this hub, or of another hub's device its home vouched for. */
  private userOf(senderId: bigint): string | undefined {
    if (senderId === 0n) return undefined;
    return this.d.storage.getDevice(senderId)?.userId ?? this.remoteDevices.get(senderId)?.userId;
  }

  private send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void {
    const hop = this.up.has(domain) ? this.relay.nextHop(domain) : undefined;
    if (hop === undefined) return;
    const wire = sealEnvelope(this.d.signer, {
      origin: this.domain,
      forwardedAt: this.d.clock.now(),
      hops: 1,
      frame,
      ...extra,
      ...(hop.relayed ? { dest: domain } : {}),
    });
    this.d.links.send(hop.link, wire);
  }

  private count(code: ProtocolErrorCode): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
  }
}
