/**
 * The hub core (DESIGN §2): sessions in, frames routed to rooms, responses out. It is told
 * by the transport which device key and user a session authenticated as, checks each
 * frame (decoding errors and bad signatures become ERROR responses, never exceptions),
 * handles the key-package directory itself and hands room frames to the shard that owns
 * the room (DESIGN §9). No sockets, no wall clock, no timers of its own.
 *
 * @example
 * const hub = await HubCore.open({ storage, clock, rng, timers, hubSigner, sink, groups });
 * hub.attachSession("s1", deviceKey, "alice");
 * await hub.handleFrame("s1", deriveSenderId(deviceKey), frameBytes);
 */
import {
  type Clock,
  DEFAULT_MAX_PAYLOAD,
  type DeviceSigner,
  decodePayload,
  deriveSenderId,
  errorFrame,
  Flag,
  FrameHeader,
  HEADER_SIZE,
  hubFrame,
  isRoomRequest,
  Opcode,
  type PayloadOf,
  type Rng,
  responseFrame,
  type Timers,
} from "@kalandra/proto";
import {
  DEFAULT_KEY_PACKAGE_LIMITS,
  KeyPackageDirectory,
  type KeyPackageLimits,
} from "../keypackages/directory.js";
import { DEFAULT_SEQUENCER_LIMITS, type SequencerLimits } from "../sequencer/env.js";
import type { GroupViewFactory } from "../sequencer/groupView.js";
import { ProtocolError, parseFrame, verifyFrameSignature } from "../sequencer/wire.js";
import { InProcessShards } from "../shards/inProcess.js";
import type { ShardModeration } from "../shards/shardCore.js";
import { shardOf } from "../shards/shardOf.js";
import type { ShardSet } from "../shards/shardSet.js";
import type { Storage } from "../storage/types.js";
import type { BanPolicy } from "../vocabulary/bans.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Sink } from "../vocabulary/target.js";

export interface HubLimits extends SequencerLimits, KeyPackageLimits {
  maxPayload: number;
  /** Shards of the in-process runtime when no ShardSet is given. */
  shards: number;
  /**
   * Verify every frame's signature against the session's device key. A transport that
   * already did (runtime/node/session.ts) may turn it off to save ~120 µs per frame.
   */
  verifySignatures: boolean;
  /** Most frames one shard writes in one `storage.append` (group commit). */
  maxBatch: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = {
  ...DEFAULT_SEQUENCER_LIMITS,
  ...DEFAULT_KEY_PACKAGE_LIMITS,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  shards: 1,
  verifySignatures: true,
  maxBatch: 4096,
};

export interface HubCoreDeps {
  storage: Storage;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  hubSigner: DeviceSigner;
  sink: Sink;
  /** Public group views; required unless `shards` is given. */
  groups?: GroupViewFactory;
  /** The shard runtime; default in-process with `limits.shards` shards. */
  shards?: ShardSet;
  /**
   * Bans (moderation/bans.ts): a hub-wide banned user's frames and key packages are refused,
   * a room-banned user's frames to that room, and commits adding a banned user (BANNED).
   */
  bans?: BanPolicy;
  /** Moderation's side of the in-process shards (moderation/shardModeration.ts): kicks, sweeps. */
  shardModeration?: ShardModeration;
  limits?: Partial<HubLimits>;
}

/** A moderation request a device sent in band (KICK, BAN, REDACT), decoded. */
export type ModerationRequest = {
  userId: string;
  roomId: bigint;
  request:
    | { opcode: typeof Opcode.KICK; payload: PayloadOf<typeof Opcode.KICK> }
    | { opcode: typeof Opcode.BAN; payload: PayloadOf<typeof Opcode.BAN> }
    | { opcode: typeof Opcode.REDACT; payload: PayloadOf<typeof Opcode.REDACT> };
};

/** Who answers in-band moderation (moderation/inBand.ts); without it they are FORBIDDEN. */
export interface InBandModeration {
  handle(req: ModerationRequest): Promise<Outcome>;
}

interface Session {
  deviceKey: Uint8Array;
  senderId: bigint;
  userId: string;
}

export class HubCore {
  private readonly sessions = new Map<string, Session>();
  /** sender_id → its sessions, so the runtime resolves `device`/`members` targets in O(1). */
  private readonly bySender = new Map<bigint, Set<string>>();
  readonly limits: HubLimits;
  readonly keyPackages: KeyPackageDirectory;
  private moderation: InBandModeration | undefined;

  private constructor(
    private readonly deps: HubCoreDeps,
    readonly shards: ShardSet,
    limits: HubLimits,
  ) {
    this.limits = limits;
    this.keyPackages = new KeyPackageDirectory(deps.storage, limits);
  }

  /** Opens the hub over its storage; every room is restored by the shard that owns it. */
  static async open(deps: HubCoreDeps): Promise<HubCore> {
    const limits = { ...DEFAULT_HUB_LIMITS, ...deps.limits };
    let shards = deps.shards;
    if (shards === undefined) {
      if (deps.groups === undefined) throw new TypeError('"groups" is required without "shards"');
      shards = new InProcessShards(
        limits.shards,
        {
          storage: deps.storage,
          clock: deps.clock,
          timers: deps.timers,
          hubSigner: deps.hubSigner,
          sink: deps.sink,
          groups: deps.groups,
          limits,
          ...(deps.bans === undefined ? {} : { bans: deps.bans }),
        },
        limits.maxBatch,
        deps.shardModeration,
      );
    }
    return new HubCore(deps, shards, limits);
  }

  /** Lets KICK/BAN/REDACT frames through to moderation (set once moderation is built on this hub). */
  setModeration(m: InBandModeration | undefined): void {
    this.moderation = m;
  }

  /** The transport authenticated `sessionId` as this device of this user. */
  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void {
    const senderId = deriveSenderId(devicePublicKey);
    this.detachSession(sessionId);
    this.sessions.set(sessionId, { deviceKey: new Uint8Array(devicePublicKey), senderId, userId });
    let set = this.bySender.get(senderId);
    if (set === undefined) {
      set = new Set();
      this.bySender.set(senderId, set);
    }
    set.add(sessionId);
    this.shards.broadcast({ t: "live", senderId, live: true });
  }

  detachSession(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    this.sessions.delete(sessionId);
    const set = this.bySender.get(s.senderId);
    set?.delete(sessionId);
    if (set?.size === 0) this.bySender.delete(s.senderId);
    this.shards.broadcast({ t: "live", senderId: s.senderId, live: false });
  }

  /** Sessions of a device (the runtime's sink resolves `device` targets with it). */
  sessionsOf(senderId: bigint): readonly string[] {
    const set = this.bySender.get(senderId);
    return set === undefined ? [] : [...set];
  }

  /** Handles one frame from a session; never throws for anything the peer sent. */
  async handleFrame(sessionId: string, senderId: bigint, bytes: Uint8Array): Promise<void> {
    const reply = { kind: "session", sessionId } as const;
    const fail = (r: Refusal): void => {
      this.deps.sink(reply, errorFrame(this.deps.hubSigner, requestHeaderOf(bytes), r));
    };
    const session = this.sessions.get(sessionId);
    if (session === undefined) return fail(refuse("UNAUTHENTICATED", "session not authenticated"));
    let frame: ReturnType<typeof parseFrame>;
    try {
      frame = parseFrame(bytes, this.limits.maxPayload);
    } catch (e) {
      if (e instanceof ProtocolError) return fail(refuse(e.code, e.message));
      return fail(refuse("BAD_PAYLOAD", String((e as Error)?.message)));
    }
    const h = frame.header;
    if (h.senderId !== session.senderId || senderId !== session.senderId) {
      return fail(refuse("SENDER_MISMATCH", "sender_id is not the session's device"));
    }
    if ((h.flags & (Flag.RESPONSE | Flag.ERROR | Flag.EXTERNAL)) !== 0) {
      return fail(refuse("FORBIDDEN", "clients send plain requests"));
    }
    if (this.limits.verifySignatures && !verifyFrameSignature(frame, session.deviceKey)) {
      return fail(refuse("BAD_SIGNATURE", "frame signature does not verify"));
    }
    // A banned identity cannot come back (issue 8): hub-wide for everything, per room for
    // that room's frames (external commits, GroupInfo fetches, anything else).
    const bans = this.deps.bans;
    if (bans !== undefined) {
      if (bans.isBanned(session.userId)) return fail(refuse("BANNED", "banned from this hub"));
      if (isRoomRequest(h.opcode) && bans.isBanned(session.userId, h.roomId)) {
        return fail(refuse("BANNED", "banned from this room"));
      }
    }
    try {
      if (h.opcode === Opcode.KP_UPLOAD) return await this.onKpUpload(frame, session, reply);
      if (h.opcode === Opcode.KP_CLAIM) return await this.onKpClaim(frame, reply);
      if (h.opcode === Opcode.KICK || h.opcode === Opcode.BAN || h.opcode === Opcode.REDACT) {
        return await this.onModeration(frame, session, reply);
      }
    } catch (e) {
      if (e instanceof ProtocolError) return fail(refuse(e.code, e.message));
      throw e;
    }
    if (!isRoomRequest(h.opcode)) {
      return fail(refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not a hub request`));
    }
    await this.shards.deliver(shardOf(h.roomId, this.shards.count), {
      t: "frame",
      sessionId,
      deviceKey: session.deviceKey,
      userId: session.userId,
      bytes,
    });
  }

  /**
   * Hub-originated Remove proposal (DESIGN §6; moderation builds `proposal` with ts-mls's
   * `proposeExternal` signed by the hub's external-sender key).
   */
  async proposeRemoval(roomId: bigint, leaf: number, proposal: Uint8Array): Promise<Outcome> {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "removal",
      roomId,
      leaf,
      proposal,
    });
    return r ?? { ok: false, refusal: refuse("INTERNAL", "no outcome") };
  }

  /**
   * Kick (DESIGN §6, moderation): the shard owning the room proposes the removal of every
   * device of `userId` as the room's external sender; NOT_MEMBER when it has none there.
   */
  async kick(roomId: bigint, userId: string): Promise<Outcome> {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "kick",
      roomId,
      userId,
    });
    return r ?? { ok: false, refusal: refuse("INTERNAL", "no outcome") };
  }

  /**
   * Sequences a hub-originated notice in a room (moderation hook: e.g. REDACTION
   * `{log_index}` after a secure delete), fanned out to every member.
   */
  async sequenceNotice(roomId: bigint, opcode: Opcode, payload: unknown): Promise<Outcome> {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "notice",
      roomId,
      opcode,
      payload,
    });
    return r ?? { ok: false, refusal: refuse("INTERNAL", "no outcome") };
  }

  /**
   * Cryptographic erasure of one frame (DESIGN §5) by the shard that owns the room's
   * storage; NOT_FOUND when there was nothing to erase.
   */
  async secureDelete(roomId: bigint, logIndex: bigint): Promise<Outcome> {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "erase",
      roomId,
      logIndex,
    });
    return r ?? { ok: false, refusal: refuse("INTERNAL", "no outcome") };
  }

  async close(): Promise<void> {
    await this.shards.close();
  }

  private nowSeconds(): bigint {
    return this.deps.clock.now() / 1000n;
  }

  private async onKpUpload(
    frame: ReturnType<typeof parseFrame>,
    session: Session,
    reply: { kind: "session"; sessionId: string },
  ): Promise<void> {
    const p = decodePayload(Opcode.KP_UPLOAD, frame.payload);
    const r = await this.keyPackages.upload(
      session,
      p.key_packages,
      p.last_resort,
      this.nowSeconds(),
    );
    const signer = this.deps.hubSigner;
    if (!r.ok) return this.deps.sink(reply, errorFrame(signer, frame.header, r.refusal));
    this.deps.sink(reply, responseFrame(signer, frame.header, Opcode.ACK, {}));
  }

  private async onModeration(
    frame: ReturnType<typeof parseFrame>,
    session: Session,
    reply: { kind: "session"; sessionId: string },
  ): Promise<void> {
    const h = frame.header;
    const signer = this.deps.hubSigner;
    let request: ModerationRequest["request"];
    if (h.opcode === Opcode.KICK) {
      request = { opcode: Opcode.KICK, payload: decodePayload(Opcode.KICK, frame.payload) };
    } else if (h.opcode === Opcode.BAN) {
      request = { opcode: Opcode.BAN, payload: decodePayload(Opcode.BAN, frame.payload) };
    } else {
      request = { opcode: Opcode.REDACT, payload: decodePayload(Opcode.REDACT, frame.payload) };
    }
    if (this.moderation === undefined) {
      const r = refuse("FORBIDDEN", "moderation is not enabled on this hub");
      return this.deps.sink(reply, errorFrame(signer, h, r));
    }
    const r = await this.moderation.handle({ userId: session.userId, roomId: h.roomId, request });
    if (!r.ok) return this.deps.sink(reply, errorFrame(signer, h, r.refusal));
    const stamp = r.logIndex === undefined ? undefined : { logIndex: r.logIndex, hlcTimestamp: 0n };
    this.deps.sink(reply, responseFrame(signer, h, Opcode.ACK, {}, stamp));
  }

  private async onKpClaim(
    frame: ReturnType<typeof parseFrame>,
    reply: { kind: "session"; sessionId: string },
  ): Promise<void> {
    const p = decodePayload(Opcode.KP_CLAIM, frame.payload);
    if (this.deps.bans?.isBanned(p.user_id) === true) {
      // Nobody can add a hub-wide banned user: its key packages are not handed out.
      const r = refuse("BANNED", `${p.user_id} is banned from this hub`);
      return this.deps.sink(reply, errorFrame(this.deps.hubSigner, frame.header, r));
    }
    const now = this.nowSeconds();
    const r = await this.keyPackages.claim(p.user_id, now);
    const signer = this.deps.hubSigner;
    if (!r.ok) return this.deps.sink(reply, errorFrame(signer, frame.header, r.refusal));
    this.deps.sink(
      reply,
      responseFrame(signer, frame.header, Opcode.KP_CLAIMED, {
        claims: r.claims.map((c) => ({ sender_id: c.senderId, key_package: c.keyPackage })),
      }),
    );
    for (const device of r.drained) {
      const remaining = this.keyPackages.remaining(device, now);
      this.deps.sink(
        { kind: "device", senderId: device },
        hubFrame(signer, Opcode.KP_STATUS, 0n, 0n, { remaining }),
      );
    }
  }
}

/** request_id/room_id/epoch of a frame that failed to decode, as far as its bytes go. */
function requestHeaderOf(bytes: Uint8Array): { requestId: number; roomId: bigint; epoch: bigint } {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_SIZE) {
    return { requestId: 0, roomId: 0n, epoch: 0n };
  }
  const h = FrameHeader.view(bytes);
  return { requestId: h.requestId, roomId: h.roomId, epoch: h.epoch };
}
