/**
 * One room's authority on one hub (DESIGN §11), without I/O: the hub is the room's
 * sequencer in its term, or a replica of the room's log, or hands the room over.
 *
 * - The authority signs each entry's position (messages.ts), persists it, then sends it to
 *   every other voter; replicas take an entry only at their next position, after the
 *   entry before it in the same term (the position check), and answer once it is durable.
 * - `ack_quorum = "majority"`: a request is acknowledged once a majority of voters hold
 *   it durably and the authority has committed an entry of its own term at or after it;
 *   `"local"`: once the authority holds it durably.
 * - Planned transfer: the authority proposes term+1 for another voter, stops accepting
 *   writes (TRANSFERRING) once it voted for it, and on the certificate hands its whole
 *   log to the new authority, which starts at the next log_index with an entry carrying
 *   the certificate. Failover: a voter that heard nothing from the authority for
 *   `failoverAfterMs` (plus a random part) proposes itself; voters only vote for a log at
 *   least as complete as theirs, so every majority-acknowledged entry survives.
 * - A hub that learns a higher term from any peer's certificate adopts it; an authority
 *   deposed that way stops sequencing and its entries not in the new authority's log are
 *   discarded when the new authority's entries reach it.
 *
 * The host calls `tick()` periodically (heartbeats, retries, failover) and `receive()` for
 * every message; the engine calls `send`. Every vote, transfer and deposition is audited.
 *
 * Longer than our ~400 lines on purpose: one state machine whose roles (sequencer, replica,
 * handing over, awaiting a handover) share the log, the peers, the commit point and the
 * term record; the pure rules it applies live beside it (termState.ts, replication.ts,
 * election.ts, statement.ts), and what is left here is the glue between them.
 */
import { type Clock, canary, type Rng, toHex } from "@kalandra/proto";
import type { AuthorityStore } from "./authorityStore.js";
import { Election } from "./election.js";
import {
  type AuthorityMessage,
  encodeAuthorityMessage,
  type LogEntry,
  signEntry,
} from "./messages.js";
import { majorityCommit, planAppend, termAt } from "./replication.js";
import {
  type HandoverCertificate,
  type HubKeys,
  type Proposal,
  proposalHash,
} from "./statement.js";
import { adoptCertificate, type TermRecord } from "./termState.js";

export type AckQuorum = "majority" | "local";

export interface RoomAuthorityEngineOptions {
  self: string;
  roomId: bigint;
  store: AuthorityStore;
  keys: HubKeys;
  signer: { sign(data: Uint8Array): Uint8Array };
  /** The room's voters (hubs with a member device), distinct and ascending. */
  voters(): readonly string[];
  ackQuorum: AckQuorum;
  failoverAfterMs: number;
  clock: Clock;
  rng: Rng;
  send(to: string, m: AuthorityMessage): void;
  audit(kind: string, detail: Record<string, unknown>): void;
  /** Entries newly committed on this hub, in order (local fan-out). */
  onCommit?(entries: readonly LogEntry[]): void;
  /** A request this hub sequenced is acknowledged at `index`. */
  onAck?(request: string, index: bigint): void;
  /** Retry hint given with TRANSFERRING (ms). */
  retryAfterMs?: number;
}

export type SubmitResult =
  | { kind: "accepted"; index: bigint; term: bigint }
  | { kind: "refused"; code: "NOT_AUTHORITY"; authority: string; term: bigint }
  | { kind: "refused"; code: "TRANSFERRING"; retryAfterMs: number; term: bigint };

interface Peer {
  /** The next index to send. */
  next: bigint;
  /** Entries known durable at the peer. */
  match: bigint;
  /** The peer answered in this term (so it knows the certificate). */
  knowsTerm: boolean;
}

const BATCH = 32n;

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export class RoomAuthorityEngine {
  readonly #o: RoomAuthorityEngineOptions;
  /** Sequencing in the record's term (false while waiting for a handover or deposed). */
  #started = false;
  #handingOver: HandoverCertificate | undefined;
  #awaitingSince: bigint | undefined;
  #peers = new Map<string, Peer>();
  #commit = 0n;
  #delivered = 0n;
  #lastHeard: bigint;
  #jitter = 0;
  /**
   * The highest term seen in any proposal or answer (not persisted: it only raises this
   * hub's next proposal above the terms others already spent, so two voters that keep
   * proposing do not keep colliding in one term).
   */
  #seenTerm = 0n;
  #election: Election | undefined;
  readonly #requests = new Map<string, bigint>();

  constructor(o: RoomAuthorityEngineOptions) {
    this.#o = o;
    this.#lastHeard = o.clock.now();
    this.#drawJitter();
    for (let i = 0n; i < o.store.length(); i++) this.#requests.set(o.store.entry(i)!.request, i);
    const rec = this.record;
    if (rec.authority === o.self) {
      if (rec.term === 0n || this.#lastTerm() === rec.term) this.#becomeSequencer(false);
      else if (rec.certificate?.proposal.kind === "planned") this.#awaitingSince = this.#now();
      else this.#becomeSequencer(true);
    }
  }

  get record(): TermRecord {
    return this.#o.store.record();
  }

  /** True while this hub accepts writes for the room. */
  get sequencing(): boolean {
    return this.#started && !this.#readOnly();
  }

  get commitLength(): bigint {
    return this.#commit;
  }

  get handingOver(): boolean {
    return this.#handingOver !== undefined;
  }

  #now(): bigint {
    return this.#o.clock.now();
  }

  #drawJitter(): void {
    const b = this.#o.rng.bytes(2);
    this.#jitter = ((b[0]! << 8) | b[1]!) % Math.max(1, this.#o.failoverAfterMs);
  }

  #lastTerm(): bigint {
    const n = this.#o.store.length();
    return n === 0n ? 0n : this.#o.store.entry(n - 1n)!.term;
  }

  #termAt(length: bigint): bigint {
    return termAt(this.#o.store, length);
  }

  /** Promised to another term's proposal (a vote above the record's term). */
  #readOnly(): boolean {
    const v = this.record.vote;
    return this.#handingOver !== undefined || (v !== undefined && v.term > this.record.term);
  }

  #others(): string[] {
    return this.#o.voters().filter((v) => v !== this.#o.self);
  }

  /** Accepts a write at the authority (idempotent by `request`). */
  submit(request: string, body: Uint8Array): SubmitResult {
    const rec = this.record;
    if (this.#started && this.#readOnly()) {
      const retryAfterMs = this.#o.retryAfterMs ?? 200;
      return { kind: "refused", code: "TRANSFERRING", retryAfterMs, term: rec.term };
    }
    if (!this.#started) {
      return { kind: "refused", code: "NOT_AUTHORITY", authority: rec.authority, term: rec.term };
    }
    const known = this.#requests.get(request);
    if (known !== undefined) {
      if (known < this.#commit) this.#o.onAck?.(request, known);
      return { kind: "accepted", index: known, term: rec.term };
    }
    const index = this.#append(request, body);
    return { kind: "accepted", index, term: rec.term };
  }

  #append(request: string, body: Uint8Array): bigint {
    const { store, roomId, self, signer } = this.#o;
    const index = store.length();
    const entry = signEntry(
      roomId,
      { index, term: this.record.term, by: self, request, body },
      signer,
    );
    store.write(index, [entry]);
    this.#requests.set(request, index);
    void store.sync().then(() => this.#afterDurable());
    return index;
  }

  #afterDurable(): void {
    if (!this.#started) return;
    this.#advanceCommit();
    for (const peer of this.#others()) this.#sendAppend(peer);
  }

  #becomeSequencer(fresh: boolean): void {
    this.#started = true;
    this.#awaitingSince = undefined;
    const length = this.#o.store.length();
    this.#peers = new Map(
      this.#others().map((p) => [p, { next: length, match: 0n, knowsTerm: false }]),
    );
    const cert = this.record.certificate;
    // The first entry of a term records its certificate; committing it commits the tail.
    if (fresh && cert !== undefined) {
      this.#append(
        `authority:${this.record.term}`,
        encodeAuthorityMessage({ t: "cert", room: this.#o.roomId, cert }),
      );
    }
  }

  #advanceCommit(): void {
    const { store, ackQuorum } = this.#o;
    const durable = store.durableLength();
    let candidate: bigint | undefined = durable;
    if (ackQuorum === "majority") {
      const matches = this.#o
        .voters()
        .map((v) => (v === this.#o.self ? durable : (this.#peers.get(v)?.match ?? 0n)));
      candidate = majorityCommit(store, matches, this.record.term);
      if (candidate === undefined) return;
    }
    this.#setCommit(candidate, true);
  }

  #setCommit(length: bigint, acking: boolean): void {
    const bounded = minBig(length, this.#o.store.length());
    if (bounded <= this.#commit) return;
    const from = this.#commit;
    this.#commit = bounded;
    if (acking) {
      for (let i = from; i < bounded; i++) this.#o.onAck?.(this.#o.store.entry(i)!.request, i);
    }
    this.#deliver();
  }

  #deliver(): void {
    const out: LogEntry[] = [];
    const upTo = minBig(this.#commit, this.#o.store.durableLength());
    for (; this.#delivered < upTo; this.#delivered++)
      out.push(this.#o.store.entry(this.#delivered)!);
    if (out.length > 0) this.#o.onCommit?.(out);
  }

  #sendAppend(peer: string, handover?: { final: boolean }): void {
    const p = this.#peers.get(peer);
    if (p === undefined) return;
    const { store, roomId } = this.#o;
    const durable = store.durableLength();
    const next = minBig(p.next, durable);
    const end = minBig(next + BATCH, durable);
    const entries: LogEntry[] = [];
    for (let i = next; i < end; i++) entries.push(store.entry(i)!);
    const rec = this.record;
    const term = handover !== undefined ? this.#handingOver!.proposal.term - 1n : rec.term;
    const m: AuthorityMessage = {
      t: "append",
      room: roomId,
      term,
      prevLength: next,
      prevTerm: this.#termAt(next),
      entries,
      commit: this.#commit,
      ...(rec.certificate !== undefined && (handover !== undefined || !p.knowsTerm)
        ? { cert: rec.certificate }
        : {}),
      ...(handover === undefined ? {} : { handover: { final: end === durable } }),
    };
    this.#o.send(peer, m);
  }

  /** Periodic work: heartbeats and replication, handover, proposal retries, failover. */
  tick(): void {
    const now = this.#now();
    if (this.#handingOver !== undefined) {
      this.#sendAppend(this.#handingOver.proposal.to, { final: true });
      return;
    }
    if (this.#started && !this.#readOnly()) {
      for (const peer of this.#others()) this.#sendAppend(peer);
      return;
    }
    const e = this.#election;
    if (e !== undefined) {
      if (e.expired(now)) {
        // Wait a fresh failover delay (with a fresh random part) before trying again, so
        // two voters that split a term's votes do not keep proposing in lockstep.
        this.#election = undefined;
        this.#lastHeard = now;
        this.#drawJitter();
      } else e.resend(this.#o.send);
      return;
    }
    if (this.#started) {
      // Read-only after its planned proposal found no majority (it promised that term):
      // it takes the room back in a term above, which its complete log wins.
      this.#propose("failover", this.#o.self);
      return;
    }
    if (!this.#o.voters().includes(this.#o.self)) return;
    const silentFor = Number(now - (this.#awaitingSince ?? this.#lastHeard));
    if (silentFor > this.#o.failoverAfterMs + this.#jitter) this.#propose("failover", this.#o.self);
  }

  /**
   * Starts a planned transfer of this room to `to` (the authority only; again after a
   * proposal that found no majority, with a higher term).
   */
  transfer(to: string): boolean {
    if (!this.#started || this.#handingOver !== undefined || this.#election !== undefined) {
      return false;
    }
    if (to === this.#o.self || !this.#o.voters().includes(to)) return false;
    return this.#propose("planned", to);
  }

  #propose(kind: "planned" | "failover", to: string): boolean {
    const rec = this.record;
    const term = maxBig(maxBig(rec.term, rec.vote?.term ?? 0n), this.#seenTerm) + 1n;
    this.#lastHeard = this.#now();
    this.#drawJitter();
    const e = new Election(
      this.#o,
      { kind, term, to, position: this.#o.store.length(), lastTerm: this.#lastTerm() },
      this.#now(),
    );
    this.#election = e;
    this.#o.audit("authority_proposal", { term, kind, to, position: e.proposal.position });
    void e.start().then((cert) => {
      if (cert !== undefined) void this.#certificateFormed(cert);
    });
    return true;
  }

  async #certificateFormed(cert: HandoverCertificate): Promise<void> {
    if (this.#election?.proposal === cert.proposal) this.#election = undefined;
    await this.#adopt(cert);
    for (const peer of this.#others())
      this.#o.send(peer, { t: "cert", room: this.#o.roomId, cert });
  }

  async #adopt(cert: HandoverCertificate): Promise<void> {
    const d = adoptCertificate(this.record, cert, this.#o.keys);
    if (d.kind !== "adopted") return;
    const wasSequencing = this.#started || this.#handingOver !== undefined;
    const { self } = this.#o;
    const keepSequencing = canary("deposed_keeps_sequencing");
    // Stop at once: no write may be accepted under the new term's record by the old authority.
    if (!keepSequencing) this.#started = false;
    this.#handingOver = undefined;
    this.#awaitingSince = undefined;
    this.#o.store.putRecord(d.record);
    await this.#o.store.sync(); // the new term is known durably before anything depends on it
    const p = cert.proposal;
    this.#o.audit("authority_transfer", {
      term: p.term,
      from: d.previous,
      to: p.to,
      kind: p.kind,
      proposal: toHex(proposalHash(p)),
      votes: cert.votes.map((v) => v.voter),
    });
    // A newer certificate may have been adopted while this one was being persisted: then
    // that one decides who sequences (acting on this one would sequence in its term).
    if (this.record.term !== p.term) return;
    if (this.#election !== undefined && this.#election.proposal.term <= p.term)
      this.#election = undefined;
    this.#lastHeard = this.#now();
    if (wasSequencing && !keepSequencing) {
      if (p.kind === "planned" && p.from === self) {
        this.#handingOver = cert;
        const to = this.#peers.get(p.to);
        this.#peers = new Map([[p.to, to ?? { next: 0n, match: 0n, knowsTerm: true }]]);
        this.#sendAppend(p.to, { final: true });
      } else if (p.to !== self) {
        this.#o.audit("authority_deposed", {
          term: p.term,
          by: p.to,
          length: this.#o.store.length(),
        });
      }
    }
    if (p.to === self && !this.#started) {
      if (p.kind === "planned") this.#awaitingSince = this.#now();
      else this.#becomeSequencer(true);
    }
  }

  /** A message from the linked hub `from` (already authenticated by the link). */
  async receive(from: string, m: AuthorityMessage): Promise<void> {
    if (m.room !== this.#o.roomId) return;
    switch (m.t) {
      case "propose":
        return this.#onPropose(from, m.proposal);
      case "vote":
        if (this.#election?.proposal.term === m.term) this.#election.vote(m.vote);
        return;
      case "refuse":
        this.#seenTerm = maxBig(this.#seenTerm, m.term);
        if (m.cert !== undefined) await this.#adopt(m.cert);
        this.#election?.refuse(from, m.code);
        return;
      case "cert":
        return this.#adopt(m.cert);
      case "append":
        return this.#onAppend(from, m);
      case "appended":
        return this.#onAppended(from, m);
    }
  }

  async #onPropose(from: string, proposal: Proposal): Promise<void> {
    this.#seenTerm = maxBig(this.#seenTerm, proposal.term);
    const answer = await Election.answer(this.#o, proposal, this.#lastTerm());
    if (answer.t === "vote") {
      this.#lastHeard = this.#now(); // a voter that just voted does not run itself
    }
    this.#o.send(from, answer);
  }

  async #onAppend(from: string, m: Extract<AuthorityMessage, { t: "append" }>): Promise<void> {
    if (m.cert !== undefined) await this.#adopt(m.cert);
    const { store, roomId, keys } = this.#o;
    const rec = this.record;
    const promised = rec.vote?.term ?? 0n;
    const handover =
      m.handover !== undefined &&
      rec.certificate !== undefined &&
      rec.certificate.proposal.kind === "planned" &&
      rec.certificate.proposal.from === from &&
      rec.authority === this.#o.self &&
      m.term === rec.term - 1n;
    const reply = (ok: boolean, length: bigint) => {
      const higher = rec.certificate !== undefined && rec.term > m.term && !handover;
      this.#o.send(from, {
        t: "appended",
        room: roomId,
        // The promised term too: an authority it refuses learns its writes cannot commit.
        term: maxBig(this.record.term, this.record.vote?.term ?? 0n),
        ok,
        length,
        ...(higher ? { cert: this.record.certificate } : {}),
      });
    };
    if (!handover) {
      if (m.term < rec.term || m.term < promised || m.term > rec.term || from !== rec.authority) {
        return reply(false, store.length());
      }
      this.#lastHeard = this.#now();
    } else if (this.#started) {
      return reply(true, store.length()); // the handover is done; the old authority learns it
    }
    const plan = planAppend(store, roomId, keys, m);
    if (plan.kind === "invalid") return;
    if (plan.kind === "mismatch") return reply(false, plan.length);
    const { write, fresh, matched } = plan;
    if (fresh.length > 0) {
      const dropped = store.length() - write;
      if (dropped > 0n) {
        // A deposed authority's tail (never committed in majority mode) gives way.
        this.#o.audit("authority_tail_discarded", { from: write, count: dropped, term: rec.term });
        for (let i = write; i < store.length(); i++) this.#requests.delete(store.entry(i)!.request);
        if (this.#delivered > write) this.#delivered = write;
        if (this.#commit > write) this.#commit = write;
      }
      store.write(write, fresh);
      for (const e of fresh) this.#requests.set(e.request, e.index);
    }
    await store.sync();
    this.#setCommit(minBig(m.commit, matched), false);
    const still = this.record.term === rec.term && this.record.authority === this.#o.self;
    if (handover && still && m.handover?.final === true && store.length() === matched) {
      this.#becomeSequencer(true);
      this.#o.audit("authority_handover_received", { term: rec.term, length: matched });
    }
    reply(true, matched);
  }

  #onAppended(from: string, m: Extract<AuthorityMessage, { t: "appended" }>): void {
    this.#seenTerm = maxBig(this.#seenTerm, m.term);
    if (m.cert !== undefined && m.cert.proposal.term > this.record.term) {
      void this.#adopt(m.cert);
      return;
    }
    if (!m.ok && m.term > this.record.term && this.sequencing && this.#election === undefined) {
      // A voter promised a higher term to a proposal that has not (yet) won: nothing this
      // authority sequences can commit there. It asks for that voter's trust again in a
      // higher term; its log is the most complete, so it wins unless a successor did.
      this.#propose("failover", this.#o.self);
      return;
    }
    const h = this.#handingOver;
    if (h !== undefined && from === h.proposal.to && m.term >= h.proposal.term) {
      if (m.ok && m.length >= this.#o.store.durableLength()) {
        this.#handingOver = undefined;
        this.#peers.clear();
        this.#o.audit("authority_handed_over", {
          term: h.proposal.term,
          to: from,
          length: m.length,
        });
        return;
      }
    } else if (!this.#started || m.term !== this.record.term) return;
    const p = this.#peers.get(from);
    if (p === undefined) return;
    if (m.ok) {
      p.knowsTerm = true;
      if (m.length > p.match) p.match = m.length;
      // Only an answer that moves the peer on sends more: duplicated or stale answers
      // would otherwise multiply the appends (the heartbeat resends what is lost).
      const progress = m.length > p.next;
      if (progress) p.next = m.length;
      if (h === undefined) this.#advanceCommit();
      if (progress && p.next < this.#o.store.durableLength())
        this.#sendAppend(from, h === undefined ? undefined : { final: true });
    } else if (m.length < p.next) {
      p.next = m.length;
      this.#sendAppend(from, h === undefined ? undefined : { final: true });
    }
  }
}
