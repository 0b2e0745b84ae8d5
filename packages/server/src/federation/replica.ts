/**
 * A participating hub's replica of a room's log (DESIGN §11): the frames the authority
 * sequenced, at the positions it gave them, stored like a local room's log so sync and
 * history are served here. The caller (federationCore.ts) has checked the authority's
 * position signature and term; this module checks the position itself: a frame is appended
 * only at the replica's next log_index. An earlier index must be byte-identical to what is
 * stored (a duplicate), anything else there is a fork and refused; a later one waits in a
 * bounded buffer while the missing range is fetched from the authority (`gap`).
 *
 * Operations on one room run one after another (each append is awaited before the next
 * position is judged), so a burst of frames cannot race past the position check.
 */
import {
  ackFrame,
  bytesEqual,
  canary,
  type DeviceSigner,
  FrameHeader,
  HEADER_SIZE,
  signFrame,
} from "@kalandra/proto";
import type { Storage } from "../storage/types.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import { applyRedaction } from "./replicaRedaction.js";

/** Frames held per room while a gap before them is fetched; more are dropped (re-fetched). */
export const MAX_BUFFERED = 1024;

/** A frame now in the replica, with the local devices it is for. */
export interface Applied {
  readonly frame: Uint8Array;
  readonly to: readonly bigint[];
  /** The room's state after the frame, when the authority sent it (stored with it). */
  readonly roomState?: Uint8Array;
}

export type ReplicaVerdict =
  | { kind: "appended"; applied: Applied[] }
  | { kind: "duplicate" }
  /** Held back: the replica needs the frames from `from` on first. */
  | { kind: "gap"; from: bigint }
  | { kind: "refused"; refusal: Refusal };

/** One entry of a catch-up page: header and payload (null when erased at the authority). */
export interface PageEntry {
  readonly header: Uint8Array;
  readonly payload: Uint8Array | null;
}

const NO_RESPONSE = new Uint8Array(0);

/**
 * The answer this hub records for a replicated entry of a device's request: its ACK (the
 * entry's position, signed by this hub). It is the entry's idempotency record (DESIGN §4):
 * after a failover the new authority's sequencer answers a retry of a request the old one
 * sequenced with it, instead of an empty answer the requester never gets.
 */
export type ReplicaAck = (header: Uint8Array) => Uint8Array;

/** The ACK a hub signed by `signer` records for a replicated entry (a `ReplicaAck`). */
export function replicaAck(signer: DeviceSigner, header: Uint8Array): Uint8Array {
  const h = FrameHeader.view(header);
  const ack = ackFrame(h, h.logIndex, h.hlcTimestamp);
  signFrame(ack, signer);
  return ack;
}

/** A live frame held while a gap before it is fetched, with the term it was sent in. */
interface Held extends Applied {
  readonly term: bigint;
}

export class ReplicaLog {
  private readonly buffered = new Map<bigint, Map<bigint, Held>>();
  private readonly queues = new Map<bigint, Promise<unknown>>();

  constructor(
    private readonly storage: Storage,
    private readonly ackOf?: ReplicaAck,
    /** Erases an entry in this hub's other copy of the room's log (LocalHub.eraseCopy). */
    private readonly eraseCopy?: (roomId: bigint, logIndex: bigint) => Promise<void> | undefined,
  ) {}

  /** The next log_index this replica expects. */
  head(roomId: bigint): bigint {
    return this.storage.nextIndex(roomId);
  }

  /** Resolves once every operation on the room queued before has run. */
  settled(roomId: bigint): Promise<void> {
    return this.serial(roomId, async () => {});
  }

  /**
   * A live frame from the authority of `term` (position signature and term already
   * checked). Frames held from a lower term are dropped first (see `dropHeldBelow`).
   */
  accept(
    roomId: bigint,
    frame: Uint8Array,
    to: readonly bigint[],
    roomState?: Uint8Array,
    term = 0n,
  ): Promise<ReplicaVerdict> {
    const a: Held = roomState === undefined ? { frame, to, term } : { frame, to, roomState, term };
    return this.serial(roomId, () => {
      this.dropHeldBelow(roomId, term);
      return this.acceptNow(roomId, a);
    });
  }

  /**
   * Keeps a live frame back without judging its position (the replica's log is being
   * checked against a new term's authority first): applied once a page lets it follow.
   */
  defer(
    roomId: bigint,
    frame: Uint8Array,
    to: readonly bigint[],
    roomState?: Uint8Array,
    term = 0n,
  ): Promise<void> {
    const a: Held = roomState === undefined ? { frame, to, term } : { frame, to, roomState, term };
    return this.serial(roomId, async () => {
      this.dropHeldBelow(roomId, term);
      this.hold(roomId, FrameHeader.view(frame).logIndex, a);
    });
  }

  /** False when a page entry below the replica's head differs from the stored one (a fork). */
  agrees(roomId: bigint, entries: readonly PageEntry[]): Promise<boolean> {
    return this.serial(roomId, async () => {
      const head = this.head(roomId);
      for (const e of entries) {
        const h = FrameHeader.view(e.header);
        if (h.roomId !== roomId || h.logIndex >= head) break;
        const [stored] = this.storage.readRange(roomId, h.logIndex, 1);
        if (stored === undefined || !bytesEqual(stored.header, e.header)) return false;
      }
      return true;
    });
  }

  /**
   * Gives the whole log up (a deposed authority's tail in it, storage has no partial
   * truncation): every payload erased, the log dropped; it is fetched again from 0.
   * Resolves with how many entries there were.
   */
  discard(roomId: bigint): Promise<bigint> {
    return this.serial(roomId, () => eraseLog(this.storage, roomId));
  }

  /** The room's state after the replica's last entry (a catch-up page's end). */
  putState(roomId: bigint, roomState: Uint8Array): Promise<void> {
    return this.serial(roomId, () => this.storage.putRoomState(roomId, roomState));
  }

  /**
   * A catch-up page from the authority: entries from the replica's head on are stored (not
   * fanned out: devices that missed them sync), then buffered frames that now follow. A page
   * entry that is also held as a live frame (the same header) is stored with the room state
   * that frame carried and delivered as the live frame would have been: a page carries no
   * per-entry state, and a replica without the state after its last state change can never
   * take the room over (failover.ts `stateIsCurrent`).
   */
  applyPage(roomId: bigint, entries: readonly PageEntry[], term = 0n): Promise<Applied[]> {
    return this.serial(roomId, async () => {
      this.dropHeldBelow(roomId, term);
      const out: Applied[] = [];
      for (const e of entries) {
        const h = FrameHeader.view(e.header);
        if (h.roomId !== roomId) break;
        const head = this.head(roomId);
        if (h.logIndex < head) continue;
        if (h.logIndex > head) break;
        const live = this.takeHeld(roomId, h.logIndex, e.header);
        await this.append(roomId, e.header, e.payload, undefined, live?.roomState);
        if (live !== undefined && e.payload !== null) out.push(appliedOf(live));
      }
      return [...out, ...(await this.drain(roomId))];
    });
  }

  /** The held live frame at `logIndex` when it is the entry `header` (removed from the hold). */
  private takeHeld(roomId: bigint, logIndex: bigint, header: Uint8Array): Held | undefined {
    const held = this.buffered.get(roomId);
    const a = held?.get(logIndex);
    if (a === undefined || !bytesEqual(a.frame.subarray(0, HEADER_SIZE), header)) return undefined;
    held?.delete(logIndex);
    return a;
  }

  /**
   * A frame held from a lower term than the authority's now is not known to be in the
   * room's log: a deposed authority's frame past where the new term starts would be applied
   * when the new term's frames close the gap before it (fed_hubs_failover seed 5: a fork at
   * a replica). Dropped; what the room's log does hold there is fetched like any gap.
   */
  private dropHeldBelow(roomId: bigint, term: bigint): void {
    const held = this.buffered.get(roomId);
    if (held === undefined) return;
    for (const [i, a] of held) if (a.term < term) held.delete(i);
    if (held.size === 0) this.buffered.delete(roomId);
  }

  private async acceptNow(roomId: bigint, a: Held): Promise<ReplicaVerdict> {
    const { frame } = a;
    const h = FrameHeader.view(frame);
    if (h.roomId !== roomId) return refused("frame of another room");
    const head = this.head(roomId);
    // canary: simulation-only planted bug (issue 18), a replica that skips the position
    // check and stores a frame from the future at its own next index.
    if (h.logIndex > head && canary("replica_skips_position_check")) {
      await this.append(roomId, frame.subarray(0, HEADER_SIZE), frame.subarray(HEADER_SIZE), head);
      return { kind: "appended", applied: [appliedOf(a)] };
    }
    if (h.logIndex < head) {
      const [stored] = this.storage.readRange(roomId, h.logIndex, 1);
      if (stored !== undefined && bytesEqual(stored.header, frame.subarray(0, HEADER_SIZE))) {
        return { kind: "duplicate" };
      }
      return refused(`log_index ${h.logIndex} differs from the replica's entry (a fork)`);
    }
    if (h.logIndex > head) {
      this.hold(roomId, h.logIndex, a);
      return { kind: "gap", from: head };
    }
    await this.append(
      roomId,
      frame.subarray(0, HEADER_SIZE),
      frame.subarray(HEADER_SIZE),
      undefined,
      a.roomState,
    );
    return { kind: "appended", applied: [appliedOf(a), ...(await this.drain(roomId))] };
  }

  private hold(roomId: bigint, logIndex: bigint, a: Held): void {
    let held = this.buffered.get(roomId);
    if (held === undefined) {
      held = new Map();
      this.buffered.set(roomId, held);
    }
    if (held.size < MAX_BUFFERED) held.set(logIndex, a);
  }

  /** Buffered frames that follow the head now, applied in order. */
  private async drain(roomId: bigint): Promise<Applied[]> {
    const held = this.buffered.get(roomId);
    const out: Applied[] = [];
    if (held === undefined) return out;
    for (;;) {
      const head = this.head(roomId);
      for (const k of held.keys()) if (k < head) held.delete(k);
      const next = held.get(head);
      if (next === undefined) break;
      held.delete(head);
      await this.append(
        roomId,
        next.frame.subarray(0, HEADER_SIZE),
        next.frame.subarray(HEADER_SIZE),
        undefined,
        next.roomState,
      );
      out.push(appliedOf(next));
    }
    if (held.size === 0) this.buffered.delete(roomId);
    return out;
  }

  private async append(
    roomId: bigint,
    header: Uint8Array,
    payload: Uint8Array | null,
    at?: bigint,
    roomState?: Uint8Array,
  ): Promise<void> {
    const h = FrameHeader.view(header);
    const logIndex = at ?? h.logIndex;
    await this.storage.append([
      {
        roomId,
        logIndex,
        header,
        payload: payload ?? new Uint8Array(0),
        senderId: h.senderId,
        requestId: h.requestId,
        response: h.senderId === 0n || this.ackOf === undefined ? NO_RESPONSE : this.ackOf(header),
        ...(roomState === undefined ? {} : { roomState }),
      },
    ]);
    // Erased at the authority: erased here too, so no byte of it is kept (DESIGN §5); the
    // authority's REDACTION of an earlier entry likewise (replicaRedaction.ts). In every
    // copy this hub holds: a worker shard keeps the log from when this hub sequenced it.
    let erased: bigint | undefined = logIndex;
    if (payload === null) await this.storage.secureDelete(roomId, logIndex);
    else erased = await applyRedaction(this.storage, roomId, header, payload);
    if (erased !== undefined) await this.eraseCopy?.(roomId, erased);
  }

  private serial<T>(roomId: bigint, op: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(roomId) ?? Promise.resolve();
    const next = prev.then(op, op);
    const tail = next.catch(() => undefined);
    this.queues.set(roomId, tail);
    void tail.then(() => {
      if (this.queues.get(roomId) === tail) this.queues.delete(roomId);
    });
    return next;
  }
}

/** Erases every payload of the room's log and drops it; resolves with its former length. */
export async function eraseLog(storage: Storage, roomId: bigint): Promise<bigint> {
  const head = storage.nextIndex(roomId);
  for (;;) {
    const live = storage.livePayloads(roomId, 0n, 1024);
    if (live.length === 0) break;
    for (const i of live) await storage.secureDelete(roomId, i);
  }
  await storage.dropRoomLog(roomId);
  return head;
}

function appliedOf({ term: _, ...a }: Held): Applied {
  return a;
}

function refused(message: string): ReplicaVerdict {
  return { kind: "refused", refusal: refuse("OUT_OF_POSITION", message) };
}
