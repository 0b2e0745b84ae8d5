/**
 * What of the hub's output is federation's (part of the federation core, federationCore.ts):
 * every target of the hub's sink passes here first. Frames for replicas are fanned out
 * (replicationFanout.ts), answers to peers' users go back to their hub, presence and typing
 * for other hubs' devices go to those hubs; with `ack_quorum = "majority"` the gate holds or
 * clips what is not committed yet; what a deposed hub's shards still emit is recognised.
 */
import { FrameHeader } from "@kalandra/proto";
import type { Target } from "../vocabulary/target.js";
import type { LocalHub } from "./coreDeps.js";
import { type EphemeralRelay, isEphemeralBytes } from "./ephemeralRelay.js";
import { type MajorityGate, shownEntry } from "./majorityGate.js";
import type { EnvelopeExtra } from "./ports.js";
import type { RemoteDevices } from "./remoteDevices.js";
import type { ReplicationFanout } from "./replicationFanout.js";
import type { RoomTransfers } from "./roomTransfers.js";

/** Reply session ids of forwarded requests: `fed:<domain>:<sender_id hex>`. */
const PEER_SESSION = "fed:";

/** The reply session id of a request `domain` forwarded for its device `senderId`. */
export function peerReplyId(domain: string, senderId: bigint): string {
  return `${PEER_SESSION}${domain}:${senderId.toString(16)}`;
}

export interface SinkRoutingDeps {
  self: string;
  gate: MajorityGate | undefined;
  fanout: ReplicationFanout;
  ephemeral: EphemeralRelay;
  devices: RemoteDevices;
  transfers: RoomTransfers;
  /** The hub this core serves, once attached. */
  local(): LocalHub | undefined;
  isRemoteRoom(roomId: bigint): boolean;
  send(domain: string, frame: Uint8Array, extra: EnvelopeExtra): void;
}

export class SinkRouting {
  constructor(private readonly d: SinkRoutingDeps) {}

  /**
   * The hub's sink passes every target here first: true when it was federation's (sent to
   * a peer), false when it is for local sessions only.
   */
  intercept(target: Target, frame: Uint8Array): boolean {
    const gate = this.d.gate;
    if (gate?.hold(target, frame) === true) return true;
    const clipped = gate?.clip(target, frame);
    if (clipped !== undefined) {
      this.deliver(target, clipped);
      return true;
    }
    return this.route(target, frame);
  }

  /** Sends what is for other hubs, and delivers the rest locally. */
  deliver(target: Target, frame: Uint8Array): void {
    if (!this.route(target, frame)) this.d.local()?.sink(target, frame);
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
    const rec = this.d.transfers.h.records.get(roomId);
    const elsewhere =
      this.d.isRemoteRoom(roomId) || (rec !== undefined && rec.authority !== this.d.self);
    return elsewhere && this.d.transfers.status(roomId)?.role !== "handing_over";
  }

  /** Sends what is for other hubs; false when `target` is for local sessions only. */
  private route(target: Target, frame: Uint8Array): boolean {
    switch (target.kind) {
      case "replicas":
        this.d.fanout.replicate(target.roomId, target.peers, frame, target.roomState);
        return true;
      case "session": {
        if (!target.sessionId.startsWith(PEER_SESSION)) return false;
        const rest = target.sessionId.slice(PEER_SESSION.length);
        const sep = rest.lastIndexOf(":");
        this.d.send(rest.slice(0, sep), frame, { to: [BigInt(`0x${rest.slice(sep + 1)}`)] });
        return true;
      }
      case "members":
        // Presence/typing: the share of other hubs' devices goes to their hubs.
        if (isEphemeralBytes(frame)) {
          this.d.ephemeral.relay(
            target.senderIds,
            frame,
            this.d.devices.userOf(FrameHeader.view(frame).senderId),
          );
        }
        return false;
      case "device": {
        const domain = this.d.devices.domainOf(target.senderId);
        if (domain === undefined) return false;
        this.d.send(domain, frame, { to: [target.senderId] });
        return true;
      }
      default:
        return false;
    }
  }
}
