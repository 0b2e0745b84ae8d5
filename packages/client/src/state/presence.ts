/**
 * Presence and typing (DESIGN §3 "ephemeral"; docs/client.md "Presence and typing"):
 * room-scoped signals the hub relays to the other members and never stores. They go out
 * once, unacknowledged and never resent (the next one supersedes a lost one); the hub
 * answers only a refusal (an `error` event). A received signal is believed only from a
 * member of this device's view of the room, signed with that member's leaf key, and only
 * for a while: "typing" for `typingTtlMs` unless renewed, a presence status for
 * `presenceTtlMs`. While a status is set this device renews it in every room it is in,
 * every half of that time, so the others' view lapses on its own when it goes away.
 *
 * Not on the client's serial queue: nothing here changes MLS or persisted state, and a
 * typing signal should not wait behind a commit.
 */
import { type Clock, isEphemeral, Opcode, type TimerHandle, type Timers } from "@kalandra/proto";
import { memberBySender } from "./apply.js";
import { ClientError } from "./errors.js";
import type { Emitter } from "./events.js";
import type { HubLink } from "./hubLink.js";
import type { Room } from "./room.js";
import { payloadOf, type ReceivedFrame, verifyFrame } from "./wire.js";

export interface PresenceOptions {
  /** How long another member's "typing" holds unless renewed (ms). */
  typingTtlMs: number;
  /** How long another member's presence status holds unless renewed (ms). */
  presenceTtlMs: number;
}

export const DEFAULT_PRESENCE_OPTIONS: PresenceOptions = {
  typingTtlMs: 6_000,
  presenceTtlMs: 60_000,
};

/** Longest status, in UTF-8 bytes (the hub relays nothing larger: EPHEMERAL_LIMITS). */
export const MAX_STATUS_BYTES = 64;

/** Another member's presence in a room, as last received. */
export interface MemberPresence {
  userId: string;
  senderId: bigint;
  status: string;
  /** Clock ms at which it lapses unless renewed. */
  expiresAt: bigint;
}

/** Another member typing in a room. */
export interface MemberTyping {
  userId: string;
  senderId: bigint;
  expiresAt: bigint;
}

export interface PresenceDeps {
  clock: Clock;
  timers: Timers;
  events: Emitter;
  rooms: ReadonlyMap<bigint, Room>;
  post: HubLink["post"];
  ownSenderId: bigint;
  options: PresenceOptions;
}

interface Seen<V> {
  userId: string;
  value: V;
  expiresAt: bigint;
  timer: TimerHandle;
}

/** senderId → what it last signalled, per room. */
type Board<V> = Map<bigint, Map<bigint, Seen<V>>>;

const utf8 = new TextEncoder();

export class Presence {
  readonly #d: PresenceDeps;
  readonly #presence: Board<string> = new Map();
  readonly #typing: Board<true> = new Map();
  /** This device's status, renewed while set. */
  #status: string | undefined;
  #renewal: TimerHandle | undefined;
  /** When this device last sent "typing" per room (renewals are spaced, not per keystroke). */
  readonly #typingSent = new Map<bigint, bigint>();

  constructor(d: PresenceDeps) {
    this.#d = d;
    // A room this device joins, or one that gains members, hears the status at once
    // rather than at the next renewal.
    d.events.on((e) => {
      if (e.type === "joined" || (e.type === "membership" && e.added.length > 0))
        this.#announceIn(e.roomId);
    });
  }

  /**
   * Announces `status` in every room this device is in, and keeps renewing it there;
   * `undefined` stops (the others' view lapses after `presenceTtlMs`).
   */
  setPresence(status: string | undefined): void {
    if (status !== undefined && utf8.encode(status).length > MAX_STATUS_BYTES)
      throw new ClientError("status_too_long", `a status is at most ${MAX_STATUS_BYTES} bytes`);
    this.#status = status;
    if (this.#renewal !== undefined) this.#d.timers.clear(this.#renewal);
    this.#renewal = undefined;
    if (status !== undefined) this.#announce();
  }

  /**
   * Tells the room's other members this user is typing (call it on every keystroke: it
   * sends at most one renewal per third of `typingTtlMs`), or stopped.
   */
  setTyping(roomId: bigint, typing: boolean): void {
    const room = this.#joined(roomId);
    if (room === undefined) throw new ClientError("unknown_room", `not a member of room ${roomId}`);
    const now = this.#d.clock.now();
    const last = this.#typingSent.get(roomId);
    if (typing) {
      if (last !== undefined && now - last < BigInt(Math.floor(this.#d.options.typingTtlMs / 3)))
        return;
      if (this.#d.post(Opcode.TYPING, roomId, room.epoch, { typing: true }))
        this.#typingSent.set(roomId, now);
      return;
    }
    if (last === undefined) return; // never said it was typing
    this.#typingSent.delete(roomId);
    this.#d.post(Opcode.TYPING, roomId, room.epoch, { typing: false });
  }

  /** The room's other members whose presence holds now. */
  presence(roomId: bigint): MemberPresence[] {
    return [...(this.#presence.get(roomId)?.entries() ?? [])].map(([senderId, s]) => ({
      userId: s.userId,
      senderId,
      status: s.value,
      expiresAt: s.expiresAt,
    }));
  }

  /** The room's other members typing now. */
  typing(roomId: bigint): MemberTyping[] {
    return [...(this.#typing.get(roomId)?.entries() ?? [])].map(([senderId, s]) => ({
      userId: s.userId,
      senderId,
      expiresAt: s.expiresAt,
    }));
  }

  /**
   * Takes a pushed frame if it is a relayed PRESENCE or TYPING (true), whatever becomes of
   * it: anything not from a member of the room, signed with its leaf key, is dropped.
   */
  receive(f: ReceivedFrame): boolean {
    if (!isEphemeral(f.header.opcode)) return false;
    const { roomId, senderId } = f.header;
    const state = this.#joined(roomId)?.state;
    if (state === undefined || senderId === this.#d.ownSenderId) return true;
    const member = memberBySender(state).get(senderId);
    if (member === undefined || !verifyFrame(f, member.signaturePublicKey)) return true;
    let p: Record<string, unknown>;
    try {
      p = payloadOf(f);
    } catch {
      return true;
    }
    const { userId } = member;
    if (f.header.opcode === Opcode.PRESENCE) {
      const status = p.status as string;
      const changed = this.#presence.get(roomId)?.get(senderId)?.value !== status;
      this.#hold(this.#presence, roomId, senderId, userId, status, this.#d.options.presenceTtlMs);
      if (changed) this.#d.events.emit({ type: "presence", roomId, senderId, userId, status });
      return true;
    }
    if (p.typing === true) {
      const was = this.#typing.get(roomId)?.has(senderId) === true;
      this.#hold(this.#typing, roomId, senderId, userId, true, this.#d.options.typingTtlMs);
      if (!was) this.#d.events.emit({ type: "typing", roomId, senderId, userId, typing: true });
    } else if (this.#drop(this.#typing, roomId, senderId)) {
      this.#d.events.emit({ type: "typing", roomId, senderId, userId, typing: false });
    }
    return true;
  }

  /** Stops renewing and forgets every signal (their timers included). */
  close(): void {
    if (this.#renewal !== undefined) this.#d.timers.clear(this.#renewal);
    this.#renewal = undefined;
    for (const board of [this.#presence, this.#typing] as Board<unknown>[])
      for (const room of board.values())
        for (const s of room.values()) this.#d.timers.clear(s.timer);
    this.#presence.clear();
    this.#typing.clear();
  }

  #joined(roomId: bigint): Room | undefined {
    const room = this.#d.rooms.get(roomId);
    return room?.state !== undefined && !room.removed ? room : undefined;
  }

  /** Sends the status to every room this device is in, and schedules the next renewal. */
  #announce(): void {
    if (this.#status === undefined) return;
    for (const roomId of this.#d.rooms.keys()) this.#announceIn(roomId);
    this.#renewal = this.#d.timers.set(this.#d.options.presenceTtlMs / 2, () => this.#announce());
  }

  #announceIn(roomId: bigint): void {
    const room = this.#joined(roomId);
    const status = this.#status;
    if (room !== undefined && status !== undefined)
      this.#d.post(Opcode.PRESENCE, roomId, room.epoch, { status });
  }

  #hold<V>(
    board: Board<V>,
    roomId: bigint,
    senderId: bigint,
    userId: string,
    value: V,
    ttlMs: number,
  ): void {
    let room = board.get(roomId);
    if (room === undefined) {
      room = new Map();
      board.set(roomId, room);
    }
    const old = room.get(senderId);
    if (old !== undefined) this.#d.timers.clear(old.timer);
    const timer = this.#d.timers.set(ttlMs, () => {
      if (!this.#drop(board, roomId, senderId)) return;
      this.#d.events.emit(
        board === (this.#typing as Board<unknown>)
          ? { type: "typing", roomId, senderId, userId, typing: false }
          : { type: "presence", roomId, senderId, userId, status: undefined },
      );
    });
    room.set(senderId, { userId, value, expiresAt: this.#d.clock.now() + BigInt(ttlMs), timer });
  }

  /** Forgets one signal; true when there was one. */
  #drop<V>(board: Board<V>, roomId: bigint, senderId: bigint): boolean {
    const room = board.get(roomId);
    const s = room?.get(senderId);
    if (room === undefined || s === undefined) return false;
    this.#d.timers.clear(s.timer);
    room.delete(senderId);
    if (room.size === 0) board.delete(roomId);
    return true;
  }
}
