/**
 * A replica that sees a frame sequenced in a term above the one it holds a certificate for
 * (DESIGN §11, issue 18 (e)): the frame is held, not believed, and the room's certificate
 * chain is asked of its sender (TERM_CHAIN_FETCH → TERM_CHAIN). Each certificate is believed
 * only when anchored in what this hub holds (termChain.ts, through the transfers' `adopt`,
 * which persists it in the audit chain); once the hub's record reaches the held frames'
 * term they are replayed into the replica, in order. A chain that does not prove the
 * sender's term drops the held frames, counts UNVERIFIED_TERM and gives the sender a
 * strike; a sender with too many strikes is not asked again for a while (its higher-term
 * frames are dropped at once). Everything is bounded: frames held per room, rooms held,
 * certificates per answer, answers served per peer per second.
 *
 * The other side: a hub answers TERM_CHAIN_FETCH with the certificates it holds
 * (termRecords.ts `chain`; they prove themselves), but only to a hub the room's own records
 * name (chainAudience.ts); any other peer gets the empty chain of an unknown room.
 */
import {
  type Clock,
  decodePayload,
  type Frame,
  hubFrame,
  Opcode,
  type ProtocolErrorCode,
} from "@kalandra/proto";
import { certFromWire, certToWire } from "../authority/authorityFrames.js";
import { type HandoverCertificate, StatementFormatError } from "../authority/statement.js";
import type { RoomAuthority } from "../contract.js";
import type { FederationPorts } from "../ports.js";
import type { Position } from "../replicaIntake.js";
import { chainFor, type RoomAudience } from "./chainAudience.js";

/** Frames held per (sender, room) while the chain is fetched; later ones are dropped. */
export const MAX_HELD_FRAMES = 64;
/** (sender, room) pairs held at once. */
export const MAX_HELD_ROOMS = 256;
/** Certificates per TERM_CHAIN answer (the asker continues from the last). */
export const MAX_CHAIN = 32;
/** A fetch unanswered this long is sent again; after `FETCH_ATTEMPTS` the frames go. */
export const FETCH_RETRY_MS = 1000n;
export const FETCH_ATTEMPTS = 3;
/** Strikes after which a peer's higher terms are dropped unasked for `STRIKE_COOLDOWN_MS`. */
export const STRIKE_LIMIT = 3;
export const STRIKE_COOLDOWN_MS = 60_000n;
/** TERM_CHAIN_FETCH answered per peer per second; more are refused RATE_LIMITED. */
export const FETCHES_PER_SECOND = 16;

/** A frame sequenced in a term this hub does not believe yet. */
interface HeldFrame {
  key: Uint8Array;
  inner: Frame;
  e: Position;
}

/** TERM_CHAIN_FETCH traffic of this hub (metrics: docs/federation.md). */
export interface ChainFetchCounts {
  /** Fetches this hub sent (first asks and resends). */
  sent: number;
  /** Fetches answered with the chain the asker may read (possibly empty). */
  answered: number;
  /** Fetches answered as for an unknown room: the asker is not one the room names. */
  withheld: number;
  /** Fetches over the per-peer rate, not answered. */
  rateLimited: number;
}

interface Held {
  domain: string;
  roomId: bigint;
  /** The highest term the sender claimed. */
  term: bigint;
  frames: HeldFrame[];
  sentAt: bigint;
  attempts: number;
}

export interface TermFetchDeps {
  ports: FederationPorts;
  clock: Clock;
  self: string;
  /** The room's authority and term as this hub's record says (undefined: unknown room). */
  record(roomId: bigint): RoomAuthority | undefined;
  /** Believes one certificate above the record's term, anchored (persisted); false if not. */
  adopt(roomId: bigint, cert: HandoverCertificate): Promise<boolean>;
  /** The book learns the room's authority (after a chain was believed). */
  learn(roomId: bigint, domain: string, term: bigint): Promise<void>;
  /** The room's certificates this hub holds and who takes part in it (chainAudience.ts). */
  audience(roomId: bigint): RoomAudience;
  /** A held frame, now believed or not: judged again by the replica intake. */
  replay(domain: string, key: Uint8Array, inner: Frame, e: Position): Promise<void>;
}

export class TermFetch {
  readonly #held = new Map<string, Held>();
  readonly #strikes = new Map<string, { count: number; until: bigint }>();
  readonly #served = new Map<string, { window: bigint; count: number }>();
  /** Held frames being judged again: one still above the record is dropped, not held twice. */
  readonly #replaying = new WeakSet<Frame>();
  readonly #fetches: ChainFetchCounts = { sent: 0, answered: 0, withheld: 0, rateLimited: 0 };

  constructor(private readonly d: TermFetchDeps) {}

  /** Strikes a peer has for unproven terms (metrics). */
  strikes(domain: string): number {
    return this.#strikes.get(domain)?.count ?? 0;
  }

  /** Peers with strikes (metrics); only configured peers' frames ever reach this. */
  struck(): string[] {
    return [...this.#strikes.keys()];
  }

  /** TERM_CHAIN_FETCH sent and served so far (metrics). */
  get fetches(): Readonly<ChainFetchCounts> {
    return this.#fetches;
  }

  /** Rooms with frames held for a chain (tests, metrics). */
  get holding(): number {
    return this.#held.size;
  }

  /** A frame `domain` sequenced in `term`, above what this hub believes: held, chain asked. */
  hold(domain: string, key: Uint8Array, inner: Frame, e: Position): void {
    if (this.#replaying.has(inner)) {
      this.count("UNVERIFIED_TERM");
      return;
    }
    const h = this.#open(domain, inner.header.roomId, e.term ?? 0n);
    if (h !== undefined && h.frames.length < MAX_HELD_FRAMES) h.frames.push({ key, inner, e });
  }

  /**
   * `domain` announced that it sequences the room in `term` (AUTHORITY_COMMIT) above what
   * this hub believes, with no frame to hold: the chain is asked all the same, or a hub
   * that missed the certificate and the new authority's frames would never learn the term.
   */
  claimed(domain: string, roomId: bigint, term: bigint): void {
    if (term > (this.d.record(roomId)?.term ?? 0n)) this.#open(domain, roomId, term);
  }

  /** The (sender, room) entry, asked for on opening; undefined when refused or full. */
  #open(domain: string, roomId: bigint, term: bigint): Held | undefined {
    const now = this.d.clock.now();
    const s = this.#strikes.get(domain);
    if (s !== undefined && s.count >= STRIKE_LIMIT && now < s.until) {
      this.count("UNVERIFIED_TERM");
      return undefined;
    }
    const id = `${domain} ${roomId}`;
    let h = this.#held.get(id);
    if (h === undefined) {
      if (this.#held.size >= MAX_HELD_ROOMS) {
        this.count("UNVERIFIED_TERM");
        return undefined;
      }
      h = { domain, roomId, term: 0n, frames: [], sentAt: now, attempts: 0 };
      this.#held.set(id, h);
      this.#ask(h, now);
    }
    if (term > h.term) h.term = term;
    return h;
  }

  /** TERM_CHAIN_FETCH or TERM_CHAIN from `domain` (the frame's hub signature checked). */
  async onFrame(domain: string, frame: Frame): Promise<void> {
    try {
      if (frame.header.opcode === Opcode.TERM_CHAIN_FETCH) return this.#serve(domain, frame);
      return await this.#arrived(domain, frame);
    } catch (e) {
      if (!(e instanceof StatementFormatError)) throw e;
      this.count("BAD_PAYLOAD");
      const h = this.#held.get(`${domain} ${frame.header.roomId}`);
      if (h !== undefined) this.#fail(h);
    }
  }

  /** Periodic: a room whose record reached the held term meanwhile is replayed; resends. */
  tick(): void {
    const now = this.d.clock.now();
    for (const h of [...this.#held.values()]) {
      if ((this.d.record(h.roomId)?.term ?? 0n) >= h.term) {
        void this.#release(h);
        continue;
      }
      if (now - h.sentAt < FETCH_RETRY_MS) continue;
      if (h.attempts >= FETCH_ATTEMPTS) {
        // Unanswered (a link down?): the frames go, no strike; the next one asks again.
        this.#held.delete(`${h.domain} ${h.roomId}`);
        this.count("UNVERIFIED_TERM");
      } else this.#ask(h, now);
    }
  }

  #ask(h: Held, now: bigint): void {
    h.sentAt = now;
    h.attempts++;
    const after = this.d.record(h.roomId)?.term ?? 0n;
    const frame = hubFrame(this.d.ports.signer, Opcode.TERM_CHAIN_FETCH, h.roomId, 0n, {
      after_term: after,
    });
    this.d.ports.send(h.domain, frame, {});
    this.#fetches.sent++;
  }

  #serve(domain: string, frame: Frame): void {
    const now = this.d.clock.now();
    const window = now / 1000n;
    const s = this.#served.get(domain);
    if (s === undefined || s.window !== window) this.#served.set(domain, { window, count: 1 });
    else if (++s.count > FETCHES_PER_SECOND) {
      this.#fetches.rateLimited++;
      this.count("RATE_LIMITED");
      return;
    }
    const roomId = frame.header.roomId;
    const { after_term } = decodePayload(Opcode.TERM_CHAIN_FETCH, frame.payload);
    const answer = chainFor(domain, this.d.audience(roomId), after_term, MAX_CHAIN);
    // Refused: the same (empty) answer as for a room never held, so nothing leaks.
    if (answer.ok) this.#fetches.answered++;
    else {
      this.#fetches.withheld++;
      this.count(answer.refusal.code);
    }
    const certs = answer.ok ? answer.certs.map(certToWire) : [];
    this.d.ports.send(
      domain,
      hubFrame(this.d.ports.signer, Opcode.TERM_CHAIN, roomId, 0n, { certs }),
      {},
    );
  }

  async #arrived(domain: string, frame: Frame): Promise<void> {
    const roomId = frame.header.roomId;
    const h = this.#held.get(`${domain} ${roomId}`);
    if (h === undefined) return; // not asked (or answered already): nothing is believed
    const { certs } = decodePayload(Opcode.TERM_CHAIN, frame.payload);
    const chain = certs.map(certFromWire);
    let progress = false;
    for (const cert of chain) {
      if (cert.proposal.roomId !== roomId) return this.#fail(h);
      if (cert.proposal.term <= (this.d.record(roomId)?.term ?? 0n)) continue;
      // Refused (counted by its reason: UNVERIFIED_TERM, BAD_HUB_SIGNATURE) by `adopt`.
      if (!(await this.d.adopt(roomId, cert))) return this.#fail(h, false);
      progress = true;
    }
    const rec = this.d.record(roomId);
    if (rec !== undefined && rec.term >= h.term) {
      if (rec.domain !== this.d.self) await this.d.learn(roomId, rec.domain, rec.term);
      return this.#release(h);
    }
    // A long chain comes in pieces: ask for the rest from where this one ended.
    if (progress && chain.length >= MAX_CHAIN) return this.#ask(h, this.d.clock.now());
    this.#fail(h);
  }

  /** The held frames go back to the replica intake, in the order they came. */
  async #release(h: Held): Promise<void> {
    if (this.#held.get(`${h.domain} ${h.roomId}`) !== h) return;
    this.#held.delete(`${h.domain} ${h.roomId}`);
    for (const f of h.frames) {
      this.#replaying.add(f.inner);
      await this.d.replay(h.domain, f.key, f.inner, f.e);
    }
  }

  /**
   * The sender did not prove its term: its held frames go, it gets a strike. `uncounted`:
   * the refusal was not counted yet (a certificate refused by `adopt` was, by its reason).
   */
  #fail(h: Held, uncounted = true): void {
    this.#held.delete(`${h.domain} ${h.roomId}`);
    if (uncounted) this.count("UNVERIFIED_TERM");
    const now = this.d.clock.now();
    const s = this.#strikes.get(h.domain);
    const count = s === undefined || (s.count >= STRIKE_LIMIT && now >= s.until) ? 1 : s.count + 1;
    this.#strikes.set(h.domain, { count, until: now + STRIKE_COOLDOWN_MS });
  }

  private count(code: ProtocolErrorCode): void {
    this.d.ports.count(code);
  }
}
