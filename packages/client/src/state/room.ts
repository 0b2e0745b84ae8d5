/**
 * One room as the client sees it (DESIGN §7):
 * `Disconnected → PendingWelcome → Synchronized(epoch) ⇄ PendingCommit(target)`, and the
 * terminal `Removed`. The MLS state is advanced only by frames applied in log order; an
 * own commit's resulting state waits in `inflight` until the sequencer accepts it.
 */
import {
  type RoomPolicyState,
  roomPolicyFromState,
  roomPolicyToState,
  stateCborDecode,
  stateCborEncode,
  toHex,
} from "@kalandra/proto";
import type { ClientState } from "ts-mls";
import { decodeState, encodeState } from "../mls/group.js";
import { type EpochSenderKeys, PendingEpochBuffer } from "../senderkeys/index.js";
import { ClientError } from "./errors.js";
import type { RoomPolicyView } from "./policy.js";
import type { ReceivedFrame } from "./wire.js";

export type RoomPhase =
  | { readonly kind: "disconnected"; readonly epoch: bigint }
  | { readonly kind: "pendingWelcome" }
  | { readonly kind: "synchronized"; readonly epoch: bigint }
  | { readonly kind: "pendingCommit"; readonly epoch: bigint; readonly target: bigint }
  | { readonly kind: "removed" };

/** A frame this device sent that the sequencer has not yet placed in the log (or refused). */
export type OwnOp =
  | { kind: "commit"; frame: Uint8Array; newState: ClientState }
  | { kind: "proposal"; frame: Uint8Array; message: Uint8Array }
  | { kind: "app"; frame: Uint8Array; plaintext: Uint8Array };

export class Room {
  readonly roomId: bigint;
  state: ClientState | undefined;
  /** The next log_index to apply; everything below it is applied. */
  nextIndex = 0n;
  removed = false;
  /** True once the room caught up with the hub's head since this process started. */
  synced = false;
  /** Own frames in flight, by signature (hex). */
  readonly inflight = new Map<string, OwnOp>();
  /** Sequenced frames received ahead of `nextIndex`. */
  readonly ahead = new Map<bigint, ReceivedFrame>();
  senderKeys: EpochSenderKeys | undefined;
  /** Application messages of an epoch not reached yet (bounded). */
  readonly future = new PendingEpochBuffer<ReceivedFrame>((f) => f.bytes.length);
  /**
   * Set when the room can no longer follow the log (an own commit the hub accepted that
   * this state cannot adopt, or another member's commit that does not process): the way
   * back is an external rejoin with resync (`joinExternal`).
   */
  diverged = false;
  /** Messages this device sealed in the current epoch (so a restart never reuses a key). */
  sentInEpoch = 0;
  /**
   * Roles, join rule and invites (state/policy.ts): known from creation or a fetch, then
   * kept current by the sequenced ROOM_POLICY frames; undefined until then.
   */
  policy: RoomPolicyView | undefined;

  constructor(roomId: bigint) {
    this.roomId = roomId;
  }

  get epoch(): bigint {
    return this.state?.groupContext.epoch ?? 0n;
  }

  phase(): RoomPhase {
    if (this.removed) return { kind: "removed" };
    if (this.state === undefined) return { kind: "pendingWelcome" };
    if (!this.synced || this.diverged) return { kind: "disconnected", epoch: this.epoch };
    for (const op of this.inflight.values()) {
      if (op.kind === "commit")
        return { kind: "pendingCommit", epoch: this.epoch, target: this.epoch + 1n };
    }
    return { kind: "synchronized", epoch: this.epoch };
  }

  /** Drops the epoch's sender keys (erasing their secrets). */
  dropKeys(): void {
    this.senderKeys?.destroy();
    this.senderKeys = undefined;
  }
}

/** The room an intent acts on: known, with a group state, not removed. */
export function liveRoom(rooms: ReadonlyMap<bigint, Room>, roomId: bigint): Room {
  const r = rooms.get(roomId);
  if (r === undefined || r.state === undefined)
    throw new ClientError("unknown_room", `no room ${roomId}`);
  if (r.removed) throw new ClientError("removed", `removed from room ${roomId}`);
  return r;
}

export function roomKey(roomId: bigint, part: "meta" | "mls" | "inflight"): string {
  return `room/${roomId.toString(16).padStart(32, "0")}/${part}`;
}

export function encodeRoomMeta(room: Room): Uint8Array {
  return stateCborEncode({
    next: room.nextIndex,
    removed: room.removed,
    sent: room.sentInEpoch,
    ...(room.policy === undefined ? {} : { policy: roomPolicyToState(room.policy) }),
  });
}

export function decodeRoomMeta(room: Room, bytes: Uint8Array): void {
  const m = stateCborDecode(bytes) as {
    next: bigint | number;
    removed: boolean;
    sent: number;
    policy?: RoomPolicyState;
  };
  room.nextIndex = BigInt(m.next);
  room.removed = m.removed;
  room.sentInEpoch = m.sent;
  if (m.policy !== undefined) room.policy = roomPolicyFromState(normalizePolicy(m.policy));
}

/** State CBOR may give small u64 values back as numbers. */
function normalizePolicy(p: RoomPolicyState): RoomPolicyState {
  return { ...p, invites: p.invites.map((i) => ({ ...i, expires_at: BigInt(i.expires_at) })) };
}

/** In-flight commits and proposals survive a restart; app messages are resent from scratch. */
export function encodeInflight(room: Room): Uint8Array {
  const ops: unknown[] = [];
  for (const op of room.inflight.values()) {
    if (op.kind === "commit") ops.push({ k: "c", f: op.frame, s: encodeState(op.newState) });
    else if (op.kind === "proposal") ops.push({ k: "p", f: op.frame, m: op.message });
    else ops.push({ k: "a", f: op.frame, t: op.plaintext });
  }
  return stateCborEncode(ops);
}

export function decodeInflight(bytes: Uint8Array): OwnOp[] {
  const ops = stateCborDecode(bytes) as {
    k: string;
    f: Uint8Array;
    s?: Uint8Array;
    m?: Uint8Array;
    t?: Uint8Array;
  }[];
  return ops.map((o) => {
    const frame = new Uint8Array(o.f);
    if (o.k === "c" && o.s !== undefined)
      return { kind: "commit", frame, newState: decodeState(new Uint8Array(o.s)) };
    if (o.k === "p" && o.m !== undefined)
      return { kind: "proposal", frame, message: new Uint8Array(o.m) };
    return { kind: "app", frame, plaintext: new Uint8Array(o.t ?? new Uint8Array(0)) };
  });
}

export function signatureKey(frame: { header: { signature: Uint8Array } }): string {
  return toHex(frame.header.signature);
}
