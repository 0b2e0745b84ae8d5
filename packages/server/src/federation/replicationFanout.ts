/**
 * The authority's side of replication (part of the federation core, federationCore.ts):
 * each frame this hub sequences goes once to every participating hub with the room's term
 * and a position signature; the voters learn who they are and the commit point
 * (FED_LOG_STATE), and a voter's FED_LOG_STATE reports its durable length (majority gate)
 * or, at a replica, the commit point its authority reached.
 */
import {
  type DeviceSigner,
  decodePayload,
  type Frame,
  FrameHeader,
  hubFrame,
  Opcode,
  type ProtocolErrorCode,
  signPosition,
  verifyFrame,
} from "@kalandra/proto";
import type { Storage } from "../storage/types.js";
import type { ReplicaPeer } from "../vocabulary/target.js";
import type { AuthorityBook } from "./authorityBook.js";
import type { HubEnlisting } from "./hubEnlisting.js";
import type { LeavingVoters } from "./leavingVoters.js";
import type { MajorityGate } from "./majorityGate.js";
import type { EnvelopeExtra } from "./ports.js";
import type { RemoteDevices } from "./remoteDevices.js";
import type { ReplicaIntake } from "./replicaIntake.js";
import type { RoomFacts } from "./roomFacts.js";
import type { RoomTransfers } from "./roomTransfers.js";

export interface ReplicationFanoutDeps {
  self: string;
  signer: DeviceSigner;
  storage: Storage;
  book: AuthorityBook;
  facts: RoomFacts;
  /** `ack_quorum = "majority"` at the authority. */
  gate: MajorityGate | undefined;
  leaving: LeavingVoters;
  devices: RemoteDevices;
  intake: ReplicaIntake;
  transfers: RoomTransfers;
  /** Voter hubs enlisted as MLS external senders, when `enlistHubs` is on. */
  enlisting: HubEnlisting | undefined;
  isRemoteRoom(roomId: bigint): boolean;
  send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void;
  count(code: ProtocolErrorCode): void;
}

export class ReplicationFanout {
  constructor(private readonly d: ReplicationFanoutDeps) {}

  /** A frame this hub sequenced, once to each participating hub with its position proof. */
  replicate(
    roomId: bigint,
    peers: readonly ReplicaPeer[],
    frame: Uint8Array,
    roomState?: Uint8Array,
  ): void {
    const d = this.d;
    if (d.isRemoteRoom(roomId)) return;
    const term = d.book.authorityOf(roomId)?.term ?? 0n;
    const positionSig = signPosition(d.signer, term, frame);
    const withMembers = peers.filter((p) => p.members.length > 0).map((p) => p.domain);
    const voters = [...new Set([d.self, ...withMembers])].sort();
    const known = d.facts.voters(roomId);
    const changed = known === undefined || known.join() !== voters.join();
    const header = FrameHeader.view(frame);
    const length = header.logIndex + 1n;
    if (changed) d.leaving.changed(roomId, known, voters, length);
    d.gate?.sequenced(roomId, voters, length);
    // Who sent it, for the participating hubs' bans over what they relay (relayFilter.ts).
    const userId = d.devices.userOf(header.senderId);
    for (const p of peers) {
      if (p.domain === d.self) continue;
      for (const s of [...p.members, ...p.fanout]) d.devices.seen(s, p.domain);
      const to = [...p.fanout];
      const members = [...p.members];
      const state = roomState === undefined ? {} : { roomState };
      const who = userId === undefined ? {} : { userId };
      d.send(p.domain, frame, { term, positionSig, to, members, ...state, ...who });
    }
    if (changed) {
      // The voters changed: every voter learns them (what a failover proposal lists).
      void d.facts.setVoters(roomId, voters);
      this.sendLogState(roomId, voters, { voters });
    }
    // Any voter may sequence the room one day: each must be able to kick (enlistHubs.ts).
    // Checked again at each commit, which may be what lets a pending enlisting through.
    const op = header.opcode;
    if (d.enlisting && (changed || op === Opcode.COMMIT || op === Opcode.EXTERNAL_COMMIT))
      d.enlisting.check(roomId, voters);
  }

  /** FED_LOG_STATE of a room this hub sequences, to its other voters. */
  sendLogState(
    roomId: bigint,
    voters: readonly string[],
    extra: { commit?: bigint; voters?: readonly string[] },
  ): void {
    const d = this.d;
    const frame = hubFrame(d.signer, Opcode.FED_LOG_STATE, roomId, 0n, {
      term: d.book.authorityOf(roomId)?.term ?? 0n,
      durable: d.storage.nextIndex(roomId),
      commit: extra.commit ?? d.gate?.commit(roomId) ?? d.storage.nextIndex(roomId),
      ...(extra.voters === undefined ? {} : { voters: [...extra.voters] }),
    });
    for (const v of voters) if (v !== d.self) d.send(v, frame, {});
  }

  /** FED_LOG_STATE: a replica's durable length (here the authority) or the commit point. */
  logState(domain: string, inner: Frame, key: Uint8Array): void {
    const d = this.d;
    if (!verifyFrame(inner, key)) {
      d.count("BAD_HUB_SIGNATURE");
      return;
    }
    const roomId = inner.header.roomId;
    const m = decodePayload(Opcode.FED_LOG_STATE, inner.payload);
    const term = d.book.authorityOf(roomId)?.term ?? 0n;
    // A voter promised a higher term and refuses this hub's frames: take the room again.
    if (m.term > term && !d.isRemoteRoom(roomId)) d.transfers.reclaim(roomId, m.term);
    // A hub still sequencing in a lower term (deposed while it was down): told the term.
    if (m.term < term && d.isRemoteRoom(roomId)) d.intake.tellTerm(domain, roomId, term);
    if (m.term !== term) return;
    if (d.isRemoteRoom(roomId)) {
      if (d.book.authorityOf(roomId)?.domain !== domain) return;
      if (m.voters !== undefined) void d.facts.setVoters(roomId, m.voters);
      d.intake.committed(domain, roomId, m.commit);
      // Its commit point lags its log (a nudge, majorityGate.ts `tick`): reported again.
      if (m.commit < m.durable) void d.intake.reportDurable(domain, roomId, term);
    } else d.gate?.replicated(roomId, domain, m.durable);
  }
}
