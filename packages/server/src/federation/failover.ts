/**
 * Failover on real hubs (DESIGN §11, issue 18): what roomTransfers.ts asks before a voter
 * proposes itself, and what a deposed authority does with its log.
 *
 * - A voter may take a room over only with the room's state as of its log's last entry
 *   (the authority sends it with each frame that changed it, and at the end of a catch-up
 *   page): `stateIsCurrent` compares the stored state's HLC stamp with the last entry that
 *   changes state.
 * - A deposed authority (or any hub) whose log runs past where the new term starts holds a
 *   tail no majority kept: it is never served. The log is erased (every payload's key
 *   destroyed: cryptographic erasure) and dropped, and the replica fetches the room's log
 *   again from the new authority (storage has no partial truncation; logMatch.ts, which
 *   also catches a tail that ends before the new term's start).
 */
import { FrameHeader, hubFrame, Opcode, type ProtocolErrorCode } from "@kalandra/proto";
import { decodeRoomState } from "../sequencer/roomState.js";
import type { Storage } from "../storage/types.js";
import { certFrame } from "./authority/authorityFrames.js";
import { type HandoverCertificate, NONCE_BYTES, type Proposal } from "./authority/statement.js";
import type { TermRecord, VoterView } from "./authority/termState.js";
import { logEnd } from "./handovers.js";
import type { HeldLog } from "./heldLog.js";
import type { TransferHost, TransferResult } from "./transferTypes.js";

/** Opcodes whose sequencing changes the room's state (sequencer/roomSequencer.ts). */
const STATE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.ROOM_CREATE,
  Opcode.PROPOSAL,
  Opcode.COMMIT,
  Opcode.EXTERNAL_COMMIT,
  Opcode.ROOM_POLICY,
]);

/** How far back the last state change is looked for before giving up (no takeover). */
const MAX_SCAN = 65_536n;
const PAGE = 256;

/** True when the stored room state is the one after the log's last state-changing entry. */
export function stateIsCurrent(storage: Storage, roomId: bigint): boolean {
  const bytes = storage.getRoomState(roomId);
  if (bytes === undefined) return false;
  const hlc = decodeRoomState(bytes).hlc;
  const head = storage.nextIndex(roomId);
  for (let end = head; end > 0n && head - end < MAX_SCAN; ) {
    const from = end > BigInt(PAGE) ? end - BigInt(PAGE) : 0n;
    const frames = storage.readRange(roomId, from, Number(end - from));
    for (let i = frames.length - 1; i >= 0; i--) {
      const h = FrameHeader.view(frames[i]!.header);
      if (STATE_OPCODES.has(h.opcode)) return h.hlcTimestamp === hlc;
    }
    end = from;
  }
  return false;
}

/** What the failover part uses of the transfers (roomTransfers.ts implements it). */
export interface ElectionPort {
  readonly h: TransferHost;
  /** A transfer or election of the room is under way here. */
  busy(roomId: bigint): boolean;
  record(roomId: bigint): TermRecord | undefined;
  /** The record, or term 0 under this hub for a never-moved room its shard sequences. */
  recordHere(roomId: bigint): Promise<TermRecord | undefined>;
  view(roomId: bigint, voters: readonly string[]): VoterView;
  /** Where this hub's log of each room ends, its shard's copy included. */
  readonly held: HeldLog;
  startElection(roomId: bigint, rec: TermRecord, proposal: Proposal): Promise<TransferResult>;
  /** Marks this hub's election of the room won with `cert`; false when there is none. */
  certified(roomId: bigint, cert: HandoverCertificate): boolean;
  adopt(roomId: bigint, cert: HandoverCertificate): Promise<boolean>;
  finish(roomId: bigint, r: TransferResult): void;
  announce(roomId: bigint, p: Proposal, nextIndex: bigint): void;
}

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

function lost(code: ProtocolErrorCode): TransferResult {
  return { ok: false, code, message: "the room could not be taken over" };
}

/** A voter's side of failover: when to propose itself, taking over, a deposed log's tail. */
export class Failovers {
  /** Random part of each room's failover delay, drawn once its authority went silent. */
  readonly #jitter = new Map<bigint, bigint>();
  /** Rooms this hub took over in this run, with where its term starts (told on link up). */
  readonly #sequencingSince = new Map<bigint, bigint>();
  /**
   * The highest term seen in any proposal or refusal per room (not persisted: it only lifts
   * this hub's next proposal above terms others spent, so two candidates that keep
   * proposing do not keep colliding in one term).
   */
  readonly #seenTerm = new Map<bigint, bigint>();
  /**
   * Rooms this hub sequences whose voters promised a higher term (`reclaim`): the term to go
   * above, and when it last proposed. Tried again every `failover_after_ms` (plus the jitter)
   * until it holds a term above: a refused reclaim is otherwise never tried again when no
   * frame comes to trigger it (fed_hubs_churn seed 473: every write waited on a commit point
   * the voters' promises kept at 0, so nothing was sequenced to be refused).
   */
  readonly #reclaims = new Map<bigint, { term: bigint; at: bigint }>();
  /** Rooms whose reclaim is being prepared (asking the shard), not proposed yet. */
  readonly #reclaiming = new Set<bigint>();
  /** Per room: how often this hub gave its log up (`giveWay`), and how many are under way. */
  readonly #givenUp = new Map<bigint, number>();
  readonly #givingWay = new Map<bigint, number>();
  /** Per room: `#givenUp` when this hub last proposed itself (`holds`). */
  readonly #proposedAt = new Map<bigint, number>();

  constructor(private readonly t: ElectionPort) {}

  /** The highest term this hub saw proposed or refused in the room. */
  see(roomId: bigint, term: bigint): void {
    if (term > (this.#seenTerm.get(roomId) ?? 0n)) this.#seenTerm.set(roomId, term);
  }

  /**
   * Failover: a voter whose link to the room's authority has been down for
   * `failover_after_ms` (plus a random part, so voters do not all propose at once) proposes
   * itself, if it holds the room's state as of its log's end. Voters grant it only for a
   * log at least as complete as theirs (decideVote), so nothing a majority held is lost.
   */
  due(now: bigint): void {
    this.#reclaimAgain(now);
    for (const roomId of this.t.h.book.remoteRooms(this.t.h.self)) {
      if (this.t.busy(roomId)) continue;
      const rec = this.t.record(roomId);
      const voters = this.t.h.facts.voters(roomId);
      if (rec === undefined || voters === undefined || !voters.includes(this.t.h.self)) continue;
      // Elected and waiting for the room's handover: no authority of another hub is gone
      // (this hub is never "up" to itself: it would propose a failover against itself).
      if (rec.authority === this.t.h.self) continue;
      const down = this.t.h.downFor(rec.authority);
      if (down === undefined) {
        this.#jitter.delete(roomId);
        continue;
      }
      let jitter = this.#jitter.get(roomId);
      if (jitter === undefined) {
        const b = this.t.h.rng.bytes(2);
        jitter = BigInt(((b[0]! << 8) | b[1]!) % Math.max(1, this.t.h.failoverAfterMs));
        this.#jitter.set(roomId, jitter);
      }
      if (down < BigInt(this.t.h.failoverAfterMs) + jitter) continue;
      // Its shard may hold more of the log than its replica (a room it handed over): the
      // replica, all a takeover installs from, must be the whole log it holds (heldLog.ts).
      if (this.t.held.end(roomId) !== this.t.h.storage.nextIndex(roomId)) continue;
      if (!stateIsCurrent(this.t.h.storage, roomId)) continue;
      this.#jitter.delete(roomId); // a fresh random part for the next attempt
      void this.propose(roomId, rec, voters);
    }
  }

  private async propose(
    roomId: bigint,
    rec: TermRecord,
    voters: readonly string[],
    from = rec.authority,
    position = this.t.h.storage.nextIndex(roomId),
  ): Promise<void> {
    this.#proposedAt.set(roomId, this.#givenUp.get(roomId) ?? 0);
    const proposal: Proposal = {
      roomId,
      term: maxBig(maxBig(rec.term, rec.vote?.term ?? 0n), this.#seenTerm.get(roomId) ?? 0n) + 1n,
      from,
      to: this.t.h.self,
      proposer: this.t.h.self,
      position,
      lastTerm: this.t.h.facts.logTerm(roomId, position),
      voters: [...voters],
      nonce: this.t.h.rng.bytes(NONCE_BYTES),
      kind: "failover",
    };
    await this.t.startElection(roomId, rec, proposal);
  }

  /**
   * The room's authority learned that a voter promised a higher term (its frames are
   * refused there: replicaIntake.ts): it proposes itself above every term seen, from its
   * own log, so the room is not left to a term that may never be won (an election whose
   * candidate went away while the links stay up: nobody else would propose).
   */
  reclaim(roomId: bigint, term: bigint): void {
    this.see(roomId, term);
    const voters = this.t.h.facts.voters(roomId);
    if (this.t.busy(roomId) || this.#reclaiming.has(roomId) || voters === undefined) return;
    const rec = this.t.record(roomId);
    if (rec !== undefined && rec.authority !== this.t.h.self) return;
    const wanted = this.#reclaims.get(roomId)?.term ?? 0n;
    this.#reclaims.set(roomId, { term: term > wanted ? term : wanted, at: this.t.h.clock.now() });
    const end = logEnd(this.t.h, roomId);
    if (rec !== undefined && typeof end === "bigint") {
      void this.propose(roomId, rec, voters, this.t.h.self, end);
      return;
    }
    // With worker shards the log (and a room that never moved) is the shard's: its end is
    // where this hub's log ends, not the main storage's copy, which stopped growing.
    this.#reclaiming.add(roomId);
    void (async () => {
      try {
        const here = await this.t.recordHere(roomId);
        const position = await end;
        if (this.t.busy(roomId) || here?.authority !== this.t.h.self) return;
        await this.propose(roomId, here, voters, this.t.h.self, position);
      } finally {
        this.#reclaiming.delete(roomId);
      }
    })();
  }

  /** Reclaims refused or lost, proposed again once their time (with the jitter) is past. */
  #reclaimAgain(now: bigint): void {
    for (const [roomId, r] of this.#reclaims) {
      const rec = this.t.record(roomId);
      if (rec === undefined || rec.authority !== this.t.h.self || rec.term >= r.term) {
        this.#reclaims.delete(roomId);
        continue;
      }
      const jitter = this.#jitter.get(roomId) ?? 0n;
      if (this.t.busy(roomId) || now - r.at < BigInt(this.t.h.failoverAfterMs) + jitter) continue;
      this.reclaim(roomId, r.term);
    }
  }

  /** Failover won: this hub sequences the room from its own log and state in the new term. */
  async takeOver(roomId: bigint, cert: HandoverCertificate): Promise<void> {
    if (!this.t.certified(roomId, cert)) return;
    const p = cert.proposal;
    // The voters granted this term for the log the proposal states. A log given up since
    // (a higher term's start ran inside it: giveWay) holds less: sequencing from it would
    // lose what they held, and a reclaiming hub's sequencer would append past its storage's
    // end (fed_hubs_failover seed 37). The term is left unused; a later proposal goes above.
    if (!this.holds(roomId, p)) return this.t.finish(roomId, lost("OUT_OF_POSITION"));
    if (!(await this.t.adopt(roomId, cert))) return this.t.finish(roomId, lost("STALE_TERM"));
    // Reclaimed (from itself): its sequencer has the room already, and its log ends where
    // its shard's does (with worker shards the main storage's copy stopped growing).
    const reclaimed = p.from === this.t.h.self;
    const end = reclaimed ? logEnd(this.t.h, roomId) : this.t.h.storage.nextIndex(roomId);
    const head = typeof end === "bigint" ? end : await end;
    const roomState = this.t.h.storage.getRoomState(roomId);
    if (!reclaimed && roomState === undefined) return this.t.finish(roomId, lost("UNKNOWN_ROOM"));
    await this.t.h.facts.takeTerm(roomId, p.term, head);
    const refused =
      reclaimed || roomState === undefined
        ? undefined
        : await this.t.h.local()?.installRoom?.({
            meta: { roomId, createdAt: this.t.h.clock.now(), settings: {} },
            roomState,
            nextIndex: head,
          });
    if (refused !== undefined) return this.t.finish(roomId, lost("INTERNAL"));
    await this.t.h.book.learn(roomId, this.t.h.self, p.term);
    this.t.finish(roomId, { ok: true, term: p.term });
    for (const v of p.voters) {
      if (v !== this.t.h.self) this.t.h.send(v, certFrame(this.t.h.signer, cert));
    }
    this.t.announce(roomId, p, head);
    this.#sequencingSince.set(roomId, head);
  }

  /**
   * The log is still the one the proposal stated: not given up since (a reclaim's position
   * may be read elsewhere than this hub's main storage: worker shards), and a failover
   * candidate's log still holds the proposal's position, its last entry of its term.
   */
  private holds(roomId: bigint, p: Proposal): boolean {
    if (this.#givingWay.has(roomId)) return false;
    if ((this.#givenUp.get(roomId) ?? 0) !== this.#proposedAt.get(roomId)) return false;
    if (p.from === this.t.h.self) return true;
    // All it holds is in the replica (a takeover installs from it), its shard's copy no longer.
    if (this.t.held.end(roomId) !== this.t.h.storage.nextIndex(roomId)) return false;
    const head = this.t.h.storage.nextIndex(roomId);
    return head >= p.position && this.t.h.facts.logTerm(roomId, p.position) === p.lastTerm;
  }

  /** A peer's link came up: it learns the term of every room this hub took over. */
  linkUp(domain: string): void {
    for (const [roomId, start] of this.#sequencingSince) {
      const rec = this.t.h.records.get(roomId);
      const voters = this.t.h.facts.voters(roomId) ?? rec?.certificate?.proposal.voters ?? [];
      if (rec?.certificate === undefined || rec.authority !== this.t.h.self) continue;
      if (!voters.includes(domain)) continue;
      this.t.h.send(domain, certFrame(this.t.h.signer, rec.certificate));
      this.t.h.send(
        domain,
        hubFrame(this.t.h.signer, Opcode.AUTHORITY_COMMIT, roomId, 0n, {
          term: rec.term,
          authority: this.t.h.self,
          next_index: start,
        }),
      );
    }
  }

  /**
   * The new authority's term starts at `next_index`: entries past it here were never kept
   * by a majority (a deposed authority's unreplicated tail) and give way.
   */
  async giveWay(roomId: bigint, m: { term: bigint; next_index: bigint }): Promise<void> {
    this.#givingWay.set(roomId, (this.#givingWay.get(roomId) ?? 0) + 1);
    let dropped: bigint;
    try {
      dropped = await this.t.h.giveWay(roomId, m.term, m.next_index);
    } finally {
      const n = (this.#givingWay.get(roomId) ?? 1) - 1;
      if (n > 0) this.#givingWay.set(roomId, n);
      else this.#givingWay.delete(roomId);
    }
    if (dropped > 0n) this.#givenUp.set(roomId, (this.#givenUp.get(roomId) ?? 0) + 1);
    if (dropped === 0n) return;
    const rec = this.t.h.records.get(roomId);
    if (rec !== undefined) {
      await this.t.h.records.put(rec, "tail_discarded", {
        from: m.next_index.toString(),
        count: dropped.toString(),
      });
    }
  }
}
