/**
 * `ack_quorum = "majority"` (DESIGN §11, issue 18): what a client sees of a federated room
 * waits until a majority of the room's voters hold the entry durably, so no failover can
 * drop an entry anyone was told of.
 *
 * - At the authority: each sequenced entry goes to the replicas at once (they must persist
 *   it), but its ACK (to a local session or, forwarded, to a peer's), its local fan-out and
 *   the Welcomes of a commit are held here until the commit point passes its index. The
 *   commit point is the length a majority of the voters (this hub counting what it
 *   emitted: the sequencer emits only durable entries) reported durable (FED_LOG_STATE).
 *   A voter's report counts only in this hub's current term and only once it reaches where
 *   the term starts: such a voter holds the log this hub took the room with, has recorded
 *   that term as its log's (roomFacts.ts `reach`), and so refuses a candidate of an earlier
 *   term. Without it an authority could count an earlier term's entry held by a majority as
 *   committed while a hub with a conflicting entry of a later term could still win the next
 *   election (Raft's "Figure 8", Ongaro §5.4.2). Until a majority reaches the start, the
 *   commit point stays where it was: entries committed before stay committed.
 * - At a replica: the local fan-out of an entry waits for the authority's commit point
 *   (FED_LOG_STATE `commit`), which it sends whenever it advances.
 *
 * - Sync: a SYNC_PAGE shows a client only entries below the commit point (`clipPage`; the
 *   authority's answers here, a replica's in replicaIntake.ts), so a client cannot read
 *   past what a majority holds either.
 *
 * - Handing the room over (a planned transfer): what it holds waits for the successor's
 *   commit point, as this hub's replica is told it (`told`), not for the handover: the tail
 *   handed over may be on no majority yet (with five voters, only on the two hubs), and a
 *   failover could still lose it. A later term than the successor's drops it (its log may
 *   not hold it). The replica serves its devices what this hub had committed at once.
 * - A new authority's commit point starts at what it knew committed as a replica (`known`):
 *   those entries are in every later log, so its devices read them with no wait.
 *
 * Deliveries are released in the order they were held. `"local"` mode never holds anything.
 * Held deliveries are in memory: after a restart the gate knows the room again from its
 * recorded voters (`restore`) with a commit point of 0 until the replicas report, and the
 * clients' retries (idempotent, same request id) get their ACK once the entry is committed.
 * A hub deposed by a failover forgets the room (`drop`): what it held is never delivered.
 */
import {
  type DeviceSigner,
  decodePayload,
  Flag,
  FrameHeader,
  HEADER_SIZE,
  isSequenced,
  Opcode,
  responseFrame,
  type SyncPagePayload,
} from "@kalandra/proto";
import type { Target } from "../vocabulary/target.js";
import { majority } from "./authority/statement.js";

interface Held {
  target: Target;
  frame: Uint8Array;
  index: bigint;
}

interface GatedRoom {
  voters: readonly string[];
  /** The term the reports are of (this hub's, as authority). */
  term: bigint;
  /** Durable length at each voter (this hub's own included). */
  durable: Map<string, bigint>;
  /** Entries a majority holds (entries below it are committed). */
  commit: bigint;
  held: Held[];
  /** Handed over to the authority of this term: released by its commit point (`told`). */
  handedTo?: bigint;
}

export interface MajorityGateDeps {
  self: string;
  /** Re-signs a SYNC_PAGE answer it clipped. */
  signer: DeviceSigner;
  /** This hub's term as the room's authority, and where the term's entries start. */
  termStart(roomId: bigint): { term: bigint; start: bigint };
  /** What this hub knew committed of the room as a replica (0 when nothing). */
  known(roomId: bigint): bigint;
  /** Asks the room's voters to report (FED_LOG_STATE of this hub's, `tick`). */
  nudge(roomId: bigint, voters: readonly string[]): void;
  /** Delivers a released frame as the sink would have (local or to a peer). */
  deliver(target: Target, frame: Uint8Array): void;
  /** The commit point advanced: tell the room's replicas. */
  committed(roomId: bigint, voters: readonly string[], commit: bigint): void;
  /**
   * A room this hub sequences that the gate does not know (after a restart): its recorded
   * voters and this hub's durable length, or undefined when the room is not federated.
   */
  restore(roomId: bigint): { voters: readonly string[]; durable: bigint } | undefined;
}

/**
 * A SYNC_PAGE without its entries at or past `commit` (what a client may see in majority
 * mode); undefined when the page shows nothing past it.
 */
export function clipPage(page: SyncPagePayload, commit: bigint): SyncPagePayload | undefined {
  const index = (e: { header: Uint8Array }) => FrameHeader.view(e.header).logIndex;
  if (page.head <= commit && page.entries.every((e) => index(e) < commit)) return undefined;
  const entries = page.entries.filter((e) => index(e) < commit);
  const last = entries.at(-1);
  const first = page.entries[0];
  const next =
    last !== undefined ? index(last) + 1n : first !== undefined ? index(first) : page.next;
  const head = commit > next ? commit : next;
  // Nothing to hide (a page clipped already: it passes the gate again on its way out).
  const same = entries.length === page.entries.length && next === page.next;
  return same && head === page.head ? undefined : { entries, next, head };
}

/** Which entry of which room a delivery shows a client, when it shows one. */
export function shownEntry(
  target: Target,
  frame: Uint8Array,
): { roomId: bigint; index: bigint } | undefined {
  const h = FrameHeader.view(frame);
  switch (target.kind) {
    case "session":
      if (h.opcode !== Opcode.ACK || (h.flags & Flag.RESPONSE) === 0) return undefined;
      return { roomId: h.roomId, index: h.logIndex };
    case "members":
      return isSequenced(h.opcode) ? { roomId: h.roomId, index: h.logIndex } : undefined;
    case "device":
      return h.opcode === Opcode.WELCOME ? { roomId: h.roomId, index: h.logIndex } : undefined;
    default:
      return undefined;
  }
}

export class MajorityGate {
  readonly #rooms = new Map<bigint, GatedRoom>();
  /** Rooms whose commit point lags this hub's log: since when, at which commit point. */
  readonly #stalled = new Map<bigint, { since: bigint; commit: bigint }>();

  constructor(private readonly d: MajorityGateDeps) {}

  /** The authority emitted the entry `length - 1` with these voters (itself among them). */
  sequenced(roomId: bigint, voters: readonly string[], length: bigint): void {
    let r = this.#rooms.get(roomId);
    if (r === undefined) {
      const { term } = this.d.termStart(roomId);
      const commit = minBig(this.d.known(roomId), length);
      r = { voters, term, durable: new Map(), commit, held: [] };
      this.#rooms.set(roomId, r);
    }
    r.voters = voters;
    delete r.handedTo; // taken back: the held wait for this hub's own commit point again
    this.#report(roomId, r, this.d.self, length);
  }

  /** A voter reported how much of the room's log it holds durably. */
  replicated(roomId: bigint, domain: string, length: bigint): void {
    const r = this.#gating(roomId);
    if (r?.voters.includes(domain)) this.#report(roomId, r, domain, length);
  }

  /**
   * The room's commit point at this authority, undefined when it gates nothing. After a
   * restart it is 0 until the replicas report (restored), never the log's length: what the
   * hub had not committed before it went down is not committed by its coming back
   * (fed_hubs_failover seed 468: a restarted, deposed authority reported its whole log,
   * with an uncommitted tail the new term gave up, as committed).
   */
  commit(roomId: bigint): bigint | undefined {
    return this.#gating(roomId)?.commit;
  }

  /** True when the delivery waits for its entry's commit (it is released later). */
  hold(target: Target, frame: Uint8Array): boolean {
    const shown = shownEntry(target, frame);
    if (shown === undefined) return false;
    const r = this.#gating(shown.roomId);
    if (r === undefined || r.voters.length < 2 || shown.index < r.commit) return false;
    r.held.push({ target, frame, index: shown.index });
    return true;
  }

  /**
   * A SYNC_PAGE answer (to a local session or a peer's) clipped to the room's commit point
   * and re-signed; undefined when it may go as it is.
   */
  clip(target: Target, frame: Uint8Array): Uint8Array | undefined {
    if (target.kind !== "session") return undefined;
    const h = FrameHeader.view(frame);
    if (h.opcode !== Opcode.SYNC_PAGE || (h.flags & Flag.RESPONSE) === 0) return undefined;
    const r = this.#gating(h.roomId);
    if (r === undefined || r.voters.length < 2) return undefined;
    const page = clipPage(decodePayload(Opcode.SYNC_PAGE, frame.subarray(HEADER_SIZE)), r.commit);
    if (page === undefined) return undefined;
    const req = { requestId: h.requestId, roomId: h.roomId, epoch: h.epoch };
    return responseFrame(this.d.signer, req, Opcode.SYNC_PAGE, page);
  }

  /**
   * The voters of a room whose commit point has not moved for `everyMs` while it lags this
   * hub's log are asked to report (`nudge`), again every `everyMs`: a restarted authority's
   * commit point is 0 until they do, and a voter that knows a higher term answers with it,
   * so a hub deposed while it was down learns it even when nothing new is sequenced
   * (fed_hubs_churn seed 35: clients waited on that commit point, no write came).
   */
  tick(now: bigint, everyMs: number): void {
    for (const [roomId, r] of this.#rooms) {
      const lags = r.handedTo === undefined && r.commit < (r.durable.get(this.d.self) ?? 0n);
      const s = this.#stalled.get(roomId);
      if (!lags) this.#stalled.delete(roomId);
      else if (s === undefined || s.commit !== r.commit) {
        this.#stalled.set(roomId, { since: now, commit: r.commit });
      } else if (now - s.since >= BigInt(everyMs)) {
        s.since = now;
        this.d.nudge(roomId, r.voters);
      }
    }
  }

  /** This hub no longer sequences the room (deposed): what it held is never delivered. */
  drop(roomId: bigint): void {
    this.#rooms.delete(roomId);
    this.#stalled.delete(roomId);
  }

  /**
   * The room was handed over to the authority of `term` (its log holds everything this hub
   * held): what is held waits for that authority's commit point (`told`).
   */
  handedOver(roomId: bigint, term: bigint): void {
    const r = this.#rooms.get(roomId);
    if (r === undefined || r.held.length === 0) this.#rooms.delete(roomId);
    else r.handedTo = term;
  }

  /**
   * The room's authority in `term` has committed `commit` entries of this hub's log (its
   * replica was told so once its log agreed): what this hub held from before it handed the
   * room over is released up to there; a later term than the successor's drops it.
   */
  told(roomId: bigint, term: bigint, commit: bigint): void {
    const r = this.#rooms.get(roomId);
    if (r?.handedTo === undefined) return;
    if (term !== r.handedTo) {
      if (term > r.handedTo) this.#rooms.delete(roomId);
      return;
    }
    this.#release(r, commit);
    if (r.held.length === 0) this.#rooms.delete(roomId);
  }

  /** The room's gate while this hub sequences it (not once handed over: its replica's). */
  #gating(roomId: bigint): GatedRoom | undefined {
    const r = this.#room(roomId);
    return r?.handedTo === undefined ? r : undefined;
  }

  /** The room's gate, restored from the recorded voters when this hub sequences it. */
  #room(roomId: bigint): GatedRoom | undefined {
    const known = this.#rooms.get(roomId);
    if (known !== undefined) return known;
    const restored = this.d.restore(roomId);
    if (restored === undefined) return undefined;
    const durable = new Map([[this.d.self, restored.durable]]);
    const { term } = this.d.termStart(roomId);
    const commit = minBig(this.d.known(roomId), restored.durable);
    const r: GatedRoom = { voters: restored.voters, term, durable, commit, held: [] };
    this.#rooms.set(roomId, r);
    return r;
  }

  #report(roomId: bigint, r: GatedRoom, domain: string, length: bigint): void {
    const { term, start } = this.d.termStart(roomId);
    if (term !== r.term) {
      // Taken again in a higher term (a reclaim): the old term's reports say nothing now.
      const own = r.durable.get(this.d.self);
      r.term = term;
      r.durable = new Map(own === undefined ? [] : [[this.d.self, own]]);
    }
    if (length < start || (r.durable.get(domain) ?? 0n) >= length) return;
    r.durable.set(domain, length);
    const lengths = r.voters.map((v) => r.durable.get(v) ?? 0n).sort((a, b) => (a > b ? -1 : 1));
    const commit = lengths[majority(r.voters.length) - 1] ?? 0n;
    if (commit <= r.commit) return;
    this.#release(r, commit);
    this.d.committed(roomId, r.voters, commit);
  }

  /** The commit point moved to `commit`: the deliveries of entries below it go. */
  #release(r: GatedRoom, commit: bigint): void {
    if (commit > r.commit) r.commit = commit;
    const ready = r.held.filter((h) => h.index < commit);
    r.held = r.held.filter((h) => h.index >= commit);
    for (const h of ready) this.d.deliver(h.target, h.frame);
  }
}

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** The replica's side: local fan-out waits for the authority's commit point. */
export class ReplicaCommits {
  readonly #commit = new Map<bigint, bigint>();
  readonly #held = new Map<bigint, { frame: Uint8Array; to: readonly bigint[]; index: bigint }[]>();

  constructor(private readonly fanOut: (frame: Uint8Array, to: readonly bigint[]) => void) {}

  /** Fans the entry out now if committed, else once the authority says it is. */
  offer(roomId: bigint, frame: Uint8Array, to: readonly bigint[]): void {
    const index = FrameHeader.view(frame).logIndex;
    if (index < (this.#commit.get(roomId) ?? 0n)) {
      this.fanOut(frame, to);
      return;
    }
    const held = this.#held.get(roomId) ?? [];
    held.push({ frame, to, index });
    this.#held.set(roomId, held);
  }

  /** Drops what the room's devices wait on (a new term: the old one's frames may give way). */
  forget(roomId: bigint): void {
    this.#held.delete(roomId);
  }

  /** The authority's commit point as last told (0 before it said one). */
  commit(roomId: bigint): bigint {
    return this.#commit.get(roomId) ?? 0n;
  }

  committed(roomId: bigint, commit: bigint): void {
    if (commit <= (this.#commit.get(roomId) ?? 0n)) return;
    this.#commit.set(roomId, commit);
    const held = this.#held.get(roomId) ?? [];
    const ready = held.filter((h) => h.index < commit);
    const rest = held.filter((h) => h.index >= commit);
    if (rest.length === 0) this.#held.delete(roomId);
    else this.#held.set(roomId, rest);
    for (const h of ready) this.fanOut(h.frame, h.to);
  }
}
