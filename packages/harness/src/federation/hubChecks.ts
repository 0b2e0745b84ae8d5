/**
 * The invariants of a federation world of real hubs (issue 18), per room, against the
 * durable log of the room's authority:
 * - fed_log_prefix: every sequenced frame a client received, through whichever home hub,
 *   is the authority's frame at that log_index (a hub frame re-signed by the client's home
 *   hub is compared without its signature, DESIGN §11: clients pin their home hub's key).
 * - fed_no_fork: every replica holds, at every position it has (in majority mode: every
 *   position it knows committed), the authority's frame.
 * - fed_one_authority: at most one hub is named the room's authority per term across all
 *   hubs' books, and no hub names an authority other than the room's in its term.
 * - ack_durable, delivered_agree, removed_reads_nothing: the single hub's client checks
 *   (invariants/clientChecks.ts) with the authority's log, across every home hub.
 * - ephemeral_never_stored: no hub's log holds a PRESENCE or TYPING frame.
 * - relay_ban: once a hub's operator banned a user homed elsewhere, no device of that hub
 *   decrypts a message of the user sequenced after the ban, nor sees its presence/typing.
 * - fed_convergence (after the faults heal): replicas at the authority's head, every member
 *   device in the authority's epoch.
 */
import { createHash } from "node:crypto";
import {
  bytesEqual,
  FrameHeader,
  HEADER_SIZE,
  isEphemeral,
  SIGNED_HEADER_SIZE,
} from "@kalandra/proto";
import type { StoredFrame } from "@kalandra/server";
import { checkAcks, checkDelivered, checkRemoved } from "../invariants/clientChecks.js";
import type { HeaderInfo } from "../invariants/hubLog.js";
import type { FedHubWorld } from "./hubWorld.js";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** The durable log of `domain`'s copy of a room (authority or replica); undefined while down. */
export function hubLogOf(
  w: FedHubWorld,
  domain: string,
  roomId: bigint,
): StoredFrame[] | undefined {
  return w.hub(domain).node.lmdb?.readRange(roomId, 0n, 1_000_000);
}

/**
 * The room's authority, whose durable log the checks compare with: the hub sequencing it
 * (or handing it over) in the highest term; before any hub has an authority record for the
 * room, the one named in the highest term of a book, or the creator's home hub. A hub
 * elected but still waiting for its handover is not it yet: its log may be behind. While the
 * hub named in the highest term any book knows is down, it is that hub (the checks wait).
 */
export function authorityOf(w: FedHubWorld, roomId: bigint, creatorHome: string): string {
  // Ranked by term, then the successor sequencing before the hub still handing over.
  let sequencing: { domain: string; rank: bigint; term: bigint } | undefined;
  let named: { domain: string; term: bigint } | undefined;
  for (const h of w.hubs.values()) {
    const fed = h.node.core?.federation;
    const s = fed?.roomAuthority(roomId);
    // A hub handing the room over names its successor already, but holds the whole log.
    const sequences = s?.role === "sequencer" && s.authority === h.domain;
    if (s !== undefined && (sequences || s.role === "handing_over")) {
      const rank = 2n * s.term + (sequences ? 1n : 0n);
      if (sequencing === undefined || rank > sequencing.rank) {
        sequencing = { domain: h.domain, rank, term: s.term };
      }
    }
    const a = fed?.book.authorityOf(roomId);
    if (a !== undefined && (named === undefined || a.term > named.term)) named = a;
  }
  // The authority of the highest term a hub knows is down: a hub sequencing in a lower term
  // was deposed and has not learned it yet; its log is not the room's (fed_hubs_churn).
  if (named !== undefined && sequencing !== undefined && named.term > sequencing.term) {
    if (!w.hub(named.domain).node.up) return named.domain;
  }
  return sequencing?.domain ?? named?.domain ?? creatorHome;
}

/** Same frame: a hub frame's signature is its relaying hub's, the rest must be equal. */
function sameHeader(a: Uint8Array, b: Uint8Array): boolean {
  const n = FrameHeader.view(a).senderId === 0n ? SIGNED_HEADER_SIZE : HEADER_SIZE;
  return bytesEqual(a.subarray(0, n), b.subarray(0, n));
}

export function checkFedSafety(w: FedHubWorld, roomId: bigint, creatorHome: string): void {
  checkOneAuthority(w, roomId);
  const authority = authorityOf(w, roomId, creatorHome);
  if (!w.hubs.has(authority)) {
    w.violation("fed_one_authority", `room ${roomId} follows ${authority}, no hub of the room`);
    return;
  }
  const log = hubLogOf(w, authority, roomId);
  if (log === undefined) return; // the authority is down: nothing durable to compare with
  checkPrefix(w, roomId, authority, log);
  checkReplicas(w, roomId, authority, log);
  const infos: (HeaderInfo | undefined)[] = [];
  checkAcks({ w, roomId, log, infos });
  checkDelivered({ w, roomId, log, infos });
  checkRemoved({ w, roomId });
}

function checkPrefix(w: FedHubWorld, roomId: bigint, authority: string, log: StoredFrame[]): void {
  const prefix = `${roomId}:`;
  for (const c of w.clients.values()) {
    for (const [key, seen] of c.seen) {
      if (!key.startsWith(prefix)) continue;
      const idx = Number(key.slice(prefix.length));
      const f = log[idx];
      if (f === undefined) {
        w.violation(
          "fed_log_prefix",
          `${c.name} received log_index ${idx}, beyond ${authority}'s durable head ${log.length}`,
        );
      } else if (
        !sameHeader(f.header, seen.header) ||
        (f.payload !== null && seen.payload !== null && sha(f.payload) !== seen.payload)
      ) {
        w.violation("fed_log_prefix", `${c.name} received another frame at log_index ${idx}`);
      }
    }
  }
}

function checkReplicas(
  w: FedHubWorld,
  roomId: bigint,
  authority: string,
  log: StoredFrame[],
): void {
  checkNoEphemeral(w, authority, log);
  for (const domain of w.domains) {
    if (domain === authority) continue;
    const replica = hubLogOf(w, domain, roomId) ?? [];
    checkNoEphemeral(w, domain, replica);
    for (const [i, r] of replica.slice(0, agreedLength(w, domain, roomId, replica)).entries()) {
      const f = log[i];
      // Beyond the authority's durable head: the authority lost what it had sent (a crash).
      const same =
        f !== undefined &&
        bytesEqual(f.header, r.header) &&
        (f.payload === null || r.payload === null || bytesEqual(f.payload, r.payload));
      if (!same) {
        w.violation(
          "fed_no_fork",
          `${domain}'s replica holds at log_index ${i} a frame ${authority} does not hold there`,
        );
        break;
      }
    }
  }
}

/**
 * How much of a hub's log must be the authority's: all of it with `ack_quorum = "local"`;
 * with "majority" what the hub knows a majority holds (its commit index): past it a hub may
 * hold a deposed authority's tail it has not yet learned to give up (never shown to a
 * client: fed_log_prefix, ack_durable and delivered_agree hold that).
 */
function agreedLength(
  w: FedHubWorld,
  domain: string,
  roomId: bigint,
  log: readonly StoredFrame[],
): number {
  if (w.o.ackQuorum !== "majority") return log.length;
  const commit = w.hub(domain).node.core?.federation?.roomAuthority(roomId)?.commitIndex;
  return commit === undefined ? log.length : Math.min(log.length, Number(commit));
}

function checkNoEphemeral(w: FedHubWorld, domain: string, log: readonly StoredFrame[]): void {
  for (const f of log) {
    if (isEphemeral(FrameHeader.view(f.header).opcode)) {
      w.violation("ephemeral_never_stored", `${domain}'s log holds a presence/typing frame`);
      return;
    }
  }
}

/** A ban by `hub`'s operator of `user` (device `senderId`), from replica position `from` on. */
export interface RelayBan {
  hub: string;
  user: string;
  senderId: bigint;
  from: bigint;
  at: bigint;
}

/** In-flight grace: an ephemeral the hub fanned out just before the ban may still land. */
const BAN_GRACE_MS = 200n;

export function checkRelayBans(w: FedHubWorld, roomId: bigint, bans: readonly RelayBan[]): void {
  for (const ban of bans) {
    for (const [name, c] of w.clients) {
      if (w.homeOf(name) !== ban.hub) continue;
      for (const d of c.delivered.get(roomId)?.values() ?? []) {
        if (d.senderId === ban.senderId && d.logIndex >= ban.from) {
          w.violation(
            "relay_ban",
            `${name} decrypted ${ban.user}'s log_index ${d.logIndex}, banned at ${ban.hub} from ${ban.from}`,
          );
        }
      }
    }
    for (const e of w.ephemerals) {
      if (
        w.homeOf(e.client) === ban.hub &&
        e.senderId === ban.senderId &&
        e.at > ban.at + BAN_GRACE_MS
      ) {
        w.violation("relay_ban", `${e.client} saw ${ban.user}'s presence, banned at ${ban.hub}`);
      }
    }
  }
}

function checkOneAuthority(w: FedHubWorld, roomId: bigint): void {
  // At most one hub sequences the room in a term.
  const sequencing = new Map<bigint, string>();
  for (const h of w.hubs.values()) {
    const s = h.node.core?.federation?.roomAuthority(roomId);
    if (s?.role !== "sequencer" || s.authority !== h.domain) continue;
    const other = sequencing.get(s.term);
    if (other !== undefined) {
      w.violation(
        "fed_one_authority",
        `room ${roomId} term ${s.term}: ${other} and ${h.domain} sequence`,
      );
    }
    sequencing.set(s.term, h.domain);
  }
  const byTerm = new Map<bigint, { domain: string; by: string }>();
  for (const h of w.hubs.values()) {
    const a = h.node.core?.federation?.book.authorityOf(roomId);
    if (a === undefined) continue;
    const prev = byTerm.get(a.term);
    if (prev !== undefined && prev.domain !== a.domain) {
      w.violation(
        "fed_one_authority",
        `room ${roomId} term ${a.term}: ${h.domain} follows ${a.domain}, ${prev.by} follows ${prev.domain}`,
      );
    }
    byTerm.set(a.term, { domain: a.domain, by: h.domain });
  }
}

/**
 * What still keeps the room from having converged, or undefined: every hub up, the replica
 * of every hub with a member at the authority's head (a hub whose users all left is no
 * longer sent the room), every member device synchronized in the authority's epoch.
 */
export function fedHubGaps(
  w: FedHubWorld,
  roomId: bigint,
  creatorHome: string,
  members: readonly string[],
): string | undefined {
  for (const h of w.hubs.values()) if (!h.node.up) return `${h.domain} is down`;
  const authority = authorityOf(w, roomId, creatorHome);
  const head = w.hub(authority).node.lmdb?.nextIndex(roomId) ?? 0n;
  for (const d of new Set(members.map((m) => w.homeOf(m)))) {
    const at = w.hub(d).node.lmdb?.nextIndex(roomId) ?? 0n;
    if (at !== head) return `${d}'s replica at ${at}, ${authority} at ${head}`;
  }
  const epoch = w.hub(authority).node.room(roomId)?.epoch;
  for (const m of members) {
    const r = w.client(m).client?.room(roomId);
    if (r?.phase.kind !== "synchronized" || r.epoch !== epoch) {
      return `${m} is ${r?.phase.kind ?? "without the room"} in epoch ${r?.epoch}, the room in ${epoch}`;
    }
  }
  return undefined;
}
