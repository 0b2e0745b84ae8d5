/**
 * Envelopes arriving over the links (part of the federation core, federationCore.ts): each
 * is opened with the link's pinned key, passed on when it is for another hub (onwardRelay.ts),
 * and its inner frame dispatched by what it is — a sequenced frame for the replica, presence
 * or typing, a peer's user's request, an authority frame, an answer to a forwarded request
 * or catch-up, FED_LOG_STATE, a term chain, a Welcome or commit request for local devices.
 * Every refusal is counted by its code; nothing refused is stored.
 */
import {
  type DeviceSigner,
  decodePayload,
  errorFrame,
  Flag,
  type Frame,
  isEphemeral,
  isProtocolError,
  Opcode,
  openEnvelope,
  verifyFrame,
} from "@kalandra/proto";
import type { AuthorityBook } from "./authorityBook.js";
import { answerCatchUp, type CatchUpAnswersDeps } from "./catchUpAnswers.js";
import type { AuthorityFrame, AuthorityHandler, PeerPolicy } from "./contract.js";
import type { LocalHub } from "./coreDeps.js";
import type { EphemeralRelay } from "./ephemeralRelay.js";
import type { Forwarding } from "./forwarding.js";
import type { OnwardRelay } from "./onwardRelay.js";
import type { PeerReach } from "./peerReach.js";
import { peerRequestProblem, type RoomsView } from "./peerRequests.js";
import { ownCopy } from "./ports.js";
import type { RemoteDevices } from "./remoteDevices.js";
import type { ReplicaIntake } from "./replicaIntake.js";
import type { ReplicationFanout } from "./replicationFanout.js";
import type { RoomTransfers } from "./roomTransfers.js";
import { peerReplyId } from "./sinkRouting.js";
import type { TermFetch } from "./trust/termFetch.js";

const AUTHORITY_KINDS = new Map<number, AuthorityFrame["kind"]>([
  [Opcode.AUTHORITY_PROPOSE, "propose"],
  [Opcode.AUTHORITY_VOTE, "vote"],
  [Opcode.AUTHORITY_COMMIT, "commit"],
  [Opcode.HANDOVER_CERT, "certificate"],
]);

export interface EnvelopeIntakeDeps extends CatchUpAnswersDeps {
  signer: DeviceSigner;
  /** Read at each envelope: `max_hops` may change with the peer configuration. */
  peers: PeerPolicy;
  reach: PeerReach;
  relay: OnwardRelay;
  book: AuthorityBook;
  intake: ReplicaIntake;
  ephemeral: EphemeralRelay;
  forwarding: Forwarding;
  trust: TermFetch;
  fanout: ReplicationFanout;
  transfers: RoomTransfers;
  devices: RemoteDevices;
  /** What the peer request rules read of the core (peerRequests.ts). */
  rooms: RoomsView;
  /** The authority-transfer part when a test replaces the built-in one. */
  authority: AuthorityHandler | undefined;
  local(): LocalHub | undefined;
}

export class EnvelopeIntake {
  constructor(private readonly d: EnvelopeIntakeDeps) {}

  /** An envelope from the link to `domain`; a typed refusal is counted, never thrown. */
  linkFrame(domain: string, bytes: Uint8Array): void {
    void this.onLinkFrame(domain, bytes).catch((e: unknown) => {
      if (isProtocolError(e)) this.d.count(e.code);
      else throw e;
    });
  }

  private async onLinkFrame(link: string, bytes: Uint8Array): Promise<void> {
    const d = this.d;
    const linkKey = d.reach.keyOf(link);
    if (linkKey === undefined) return d.count("PEER_NOT_CONFIGURED");
    const { envelope, inner } = openEnvelope(bytes, linkKey, { maxHops: d.peers.maxHops });
    // For another hub: relayed one hop on (onwardRelay.ts), never looked into here.
    const dest = envelope.dest;
    if (dest !== undefined && dest !== d.self) return d.relay.pass(link, { ...envelope, dest });
    // The origin is the link's peer, or a hub it relays for whose own signature holds.
    const key = envelope.origin === link ? linkKey : d.relay.accept(link, envelope);
    if (key === undefined) return;
    const domain = envelope.origin;
    // A routed peer heard again after a silence (onwardRelay.ts keepalive) is reachable.
    if (!d.reach.isUp(domain)) d.reach.reach(domain, key);
    const h = inner.header;
    if (h.opcode === Opcode.PING && h.senderId === 0n) return; // a routed peer's keepalive
    // A frame the authority sequenced carries its position proof, whoever signed the frame.
    if (envelope.position_sig !== undefined) {
      return d.intake.sequenced(domain, key, inner, envelope);
    }
    // Presence/typing the authority relays to this hub's members (no device key: not a request).
    if (isEphemeral(h.opcode) && envelope.device_key === undefined) {
      return d.ephemeral.arrived(domain, inner, envelope);
    }
    if (h.senderId !== 0n) return this.fromPeerUser(domain, inner, envelope);
    const kind = AUTHORITY_KINDS.get(h.opcode);
    if (kind !== undefined) return this.toAuthority(domain, inner, key, kind);
    if ((h.flags & Flag.RESPONSE) !== 0) {
      const sender = envelope.to?.[0];
      if (sender === undefined) return d.count("BAD_PAYLOAD");
      if (sender === 0n) return d.intake.pageArrived(domain, inner, envelope);
      return d.forwarding.answered(domain, inner, sender);
    }
    if (h.opcode === Opcode.SYNC_REQUEST) return answerCatchUp(d, domain, inner);
    if (h.opcode === Opcode.FED_LOG_STATE) return d.fanout.logState(domain, inner, key);
    if (h.opcode === Opcode.TERM_CHAIN_FETCH || h.opcode === Opcode.TERM_CHAIN) {
      if (!verifyFrame(inner, key)) return d.count("BAD_HUB_SIGNATURE");
      return d.trust.onFrame(domain, inner);
    }
    // A Welcome or commit request the authority sends to devices of this hub.
    if (h.opcode === Opcode.WELCOME || h.opcode === Opcode.COMMIT_REQUEST) {
      if (h.opcode === Opcode.WELCOME) await d.book.learn(h.roomId, domain, 0n);
      const bytes = ownCopy(d.signer, inner);
      for (const senderId of envelope.to ?? []) {
        d.local()?.sink({ kind: "device", senderId }, bytes);
      }
      return;
    }
    d.count("BAD_PAYLOAD");
  }

  /** A request one of `domain`'s users sent, forwarded by its hub. */
  private async fromPeerUser(
    domain: string,
    inner: Frame,
    e: { user_id?: string; device_key?: Uint8Array },
  ): Promise<void> {
    const d = this.d;
    const h = inner.header;
    const refused = peerRequestProblem(d.rooms, domain, inner, e) ?? d.ephemeral.admit(inner);
    if (refused !== undefined) {
      d.count(refused.code);
      d.send(domain, errorFrame(h, refused), { to: [h.senderId] });
      return;
    }
    const userId = e.user_id as string;
    const deviceKey = e.device_key as Uint8Array;
    d.devices.vouched(h.senderId, domain, userId);
    if (d.devices.markLive(domain, h.senderId)) d.local()?.remoteLive?.(h.senderId, true);
    const reply = peerReplyId(domain, h.senderId);
    await d.local()?.peerRequest(reply, inner, { senderId: h.senderId, deviceKey, userId });
  }

  private toAuthority(
    domain: string,
    inner: Frame,
    key: Uint8Array,
    kind: AuthorityFrame["kind"],
  ): Promise<void> | undefined {
    // Authority frames are signed by their author, the peer itself on a direct link.
    if (!verifyFrame(inner, key)) {
      this.d.count("BAD_HUB_SIGNATURE");
      return;
    }
    const handler = this.d.authority;
    if (handler === undefined) return this.d.transfers.onFrame(domain, inner);
    const payload = decodePayload(
      inner.header.opcode as typeof Opcode.AUTHORITY_COMMIT,
      inner.payload,
    );
    handler.onAuthorityFrame(domain, { kind, frame: inner, payload } as AuthorityFrame);
  }
}
