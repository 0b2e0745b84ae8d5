/**
 * Presence and typing across hubs (issue 18, docs/federation.md "Presence and typing"):
 * ephemeral frames, never sequenced, never stored, relayed like on one hub but through the
 * room's authority, which alone knows the members.
 *
 * - A member's PRESENCE/TYPING on a room another hub sequences is forwarded to the
 *   authority like any request (its home hub spends the device's allowance first).
 * - The authority checks membership (the shard, as for a local member) and fans the frame
 *   out; the share for devices of other hubs goes once to each of those hubs, naming its
 *   devices and the sender's user.
 * - The participating hub delivers it only to devices the authority listed as the room's
 *   members here, never to a device whose hub's bans withhold the sender (relayFilter.ts).
 *
 * Rate limits: every hub spends one allowance per device (the hub's EphemeralGate, given as
 * `allowance`: 5 a second, burst 30) for its own users' frames and for a peer's users' frames alike, so a peer that
 * does not limit its users cannot make this hub flood the room; the link's per-peer bucket
 * bounds the rest.
 */
import { type Frame, FrameHeader, isEphemeral } from "@kalandra/proto";
import type { Refusal } from "../vocabulary/outcome.js";
import type { AuthorityBook } from "./authorityBook.js";
import type { FederationPorts } from "./ports.js";
import type { RelayFilter } from "./relayFilter.js";

/** Devices whose allowance is remembered at most (oldest forgotten first). */
export const MAX_GATES = 16_384;

/** One device's allowance of ephemeral frames (the hub's hub/ephemeralGate.ts). */
export interface EphemeralAllowance {
  check(frame: Frame): Refusal | undefined;
}

export interface EphemeralRelayDeps {
  ports: FederationPorts;
  /** A fresh allowance for a device; without it nothing is limited here. */
  allowance?: () => EphemeralAllowance;
  book: AuthorityBook;
  filter: RelayFilter;
  self: () => string;
  /** The home hub of a device of another hub, when known. */
  domainOf(senderId: bigint): string | undefined;
  /** This hub's member devices of a room it replicates, as the authority last listed them. */
  localMembers(roomId: bigint): ReadonlySet<bigint> | undefined;
}

export class EphemeralRelay {
  private readonly gates = new Map<bigint, EphemeralAllowance>();
  /** Ephemerals relayed to other hubs, and delivered here from one (tests, metrics). */
  readonly counts = { sent: 0, delivered: 0, dropped: 0 };

  constructor(private readonly d: EphemeralRelayDeps) {}

  /** The device's allowance for one more ephemeral frame; a refusal when it is spent. */
  admit(frame: Frame): Refusal | undefined {
    const allowance = this.d.allowance;
    if (!isEphemeral(frame.header.opcode) || allowance === undefined) return undefined;
    const id = frame.header.senderId;
    let gate = this.gates.get(id);
    if (gate === undefined) {
      gate = allowance();
      this.gates.set(id, gate);
      if (this.gates.size > MAX_GATES) this.gates.delete(this.gates.keys().next().value as bigint);
    }
    return gate.check(frame);
  }

  /**
   * At the authority: an ephemeral fan-out to `senderIds` of the room; the devices of other
   * hubs get it through their hub, one envelope per hub. The rest is for local sessions.
   */
  relay(senderIds: readonly bigint[], frame: Uint8Array, userId: string | undefined): void {
    const by = new Map<string, bigint[]>();
    for (const s of senderIds) {
      const domain = this.d.domainOf(s);
      if (domain === undefined || domain === this.d.self()) continue;
      const list = by.get(domain);
      if (list === undefined) by.set(domain, [s]);
      else list.push(s);
    }
    for (const [domain, to] of by) {
      this.counts.sent++;
      this.d.ports.send(domain, frame, { to, ...(userId === undefined ? {} : { userId }) });
    }
  }

  /** At a participating hub: the authority's relayed ephemeral, for this hub's members only. */
  async arrived(
    domain: string,
    inner: Frame,
    e: { to?: bigint[]; user_id?: string },
  ): Promise<void> {
    const h = inner.header;
    const members = this.d.localMembers(h.roomId);
    if (this.d.book.authorityOf(h.roomId)?.domain !== domain || members === undefined) {
      this.counts.dropped++;
      return this.d.ports.count("NOT_AUTHORITY");
    }
    await this.d.filter.attribute(h.senderId, e.user_id, domain);
    const to = (e.to ?? []).filter((s) => members.has(s) && s !== h.senderId);
    if (to.length === 0 || this.d.filter.withholds(h)) {
      this.counts.dropped++;
      return;
    }
    this.counts.delivered++;
    this.d.ports.sink({ kind: "members", roomId: h.roomId, senderIds: to }, inner.toWire());
  }
}

/** True for an ephemeral frame's bytes (the hub's "members" fan-out of PRESENCE/TYPING). */
export function isEphemeralBytes(frame: Uint8Array): boolean {
  return isEphemeral(FrameHeader.view(frame).opcode);
}
