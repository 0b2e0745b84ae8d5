// Kept whole at ~600 lines: one concept (where a session's or a peer's frame goes), no clear seam to split.
/**
 * The hub core (DESIGN §2): what a session's frame is for. It is told which device key and
 * user a session authenticated as, and takes the frames the session already parsed and
 * verified (`handleVerified`; `handleFrame` parses and verifies raw bytes first, for
 * callers without a session). It refuses flagged frames and banned users, answers
 * key-package, Welcome-inbox and in-band moderation requests itself (hubRequests.ts), enforces
 * `max_rooms`, and hands room frames to the shard that owns the room (DESIGN §9). Errors
 * are ERROR responses, never exceptions. No sockets, no wall clock, no timers of its own.
 *
 * @example
 * const hub = await HubCore.open({ storage, clock, rng, timers, hubSigner, sink, groups });
 * hub.attachSession("s1", deviceKey, "alice");
 * await hub.handleFrame("s1", deriveSenderId(deviceKey), frameBytes);
 */
import {
  type Clock,
  type DeviceSigner,
  deriveSenderId,
  errorFrame,
  Frame,
  FrameHeader,
  HEADER_SIZE,
  HUB_ONLY_FLAGS,
  isEphemeral,
  isRoomRequest,
  Opcode,
  type PayloadOf,
  type Rng,
  type Timers,
} from "@kalandra/proto";
import type { FederationSetup } from "../federation/contract.js";
import {
  FederationCore,
  type PeerRequester,
  type RoomHandover,
} from "../federation/federationCore.js";
import { routeFederated } from "../federation/hubRoutes.js";
import { Authentication } from "../identity/authentication.js";
import type { AuthRequest, AuthVerdict } from "../identity/authenticator.js";
import { devAuthenticator } from "../identity/devAuthenticator.js";
import { DeviceRegistry } from "../identity/devices.js";
import { LEAF_OPCODES, LeafBinding } from "../identity/leafBinding.js";
import {
  DEFAULT_WELCOME_INBOX_LIMITS,
  WelcomeInbox,
  type WelcomeInboxLimits,
} from "../inbox/welcomeInbox.js";
import {
  DEFAULT_KEY_PACKAGE_LIMITS,
  KeyPackageDirectory,
  type KeyPackageLimits,
} from "../keypackages/directory.js";
import { DEFAULT_SEQUENCER_LIMITS, type SequencerLimits } from "../sequencer/env.js";
import type { GroupViewFactory } from "../sequencer/groupView.js";
import { ProtocolError, requestFields, verifyFrameSignature } from "../sequencer/wire.js";
import { askAllShards, askShard } from "../shards/askShards.js";
import { InProcessShards } from "../shards/inProcess.js";
import { copyLogToShard } from "../shards/logImport.js";
import type { ShardModeration } from "../shards/shardCore.js";
import { shardOf } from "../shards/shardOf.js";
import type { ShardSet } from "../shards/shardSet.js";
import type { Storage } from "../storage/types.js";
import type { BanPolicy } from "../vocabulary/bans.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Sink, Target } from "../vocabulary/target.js";
import { ACCESS_OPCODES, AccessAudit } from "./accessAudit.js";
import { type ClaimLimits, ClaimRateLimiter, DEFAULT_CLAIM_LIMITS } from "./claimLimits.js";
import { EphemeralGate } from "./ephemeralGate.js";
import {
  answerHubRequest,
  HUB_REQUEST_OPCODES,
  type HubRequestContext,
  type InBandModeration,
} from "./hubRequests.js";
import { ModerationAnswers } from "./moderationAnswers.js";
import { RoomQuota } from "./roomQuota.js";

export interface HubLimits
  extends SequencerLimits,
    KeyPackageLimits,
    ClaimLimits,
    WelcomeInboxLimits {
  /** Rooms on this hub (`limits.max_rooms`); ROOM_CREATE beyond it gets TOO_MANY_ROOMS. */
  maxRooms: number;
  /**
   * Rooms one user may create (`limits.max_rooms_per_user`): beyond it that user's
   * ROOM_CREATE gets TOO_MANY_ROOMS while others still create theirs (issue 12).
   */
  maxRoomsPerUser: number;
  /** ROOM_CREATEs one user may make per minute (`limits.max_room_creations_per_minute`). */
  maxRoomCreationsPerMinute: number;
  /** Shards of the in-process runtime when no ShardSet is given. */
  shards: number;
  /**
   * `handleFrame` (raw bytes) verifies each frame's signature against the session's device
   * key; off, it trusts the caller (benchmarks). `handleVerified` never verifies again.
   */
  verifySignatures: boolean;
  /** Most frames one shard writes in one `storage.append` (group commit). */
  maxBatch: number;
  /** Active devices per user (`auth.max_devices_per_user`) for the default authentication. */
  maxDevicesPerUser: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = {
  ...DEFAULT_SEQUENCER_LIMITS,
  ...DEFAULT_KEY_PACKAGE_LIMITS,
  ...DEFAULT_CLAIM_LIMITS,
  ...DEFAULT_WELCOME_INBOX_LIMITS,
  maxRooms: 100_000,
  maxRoomsPerUser: 1000,
  maxRoomCreationsPerMinute: 60,
  shards: 1,
  verifySignatures: true,
  maxBatch: 4096,
  maxDevicesPerUser: 10,
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
  /**
   * The shard runtime; default in-process with `limits.shards` shards. Shards given here
   * must emit through `inbox.capture(sink)` so their Welcomes are kept.
   */
  shards?: ShardSet;
  /** The Welcome inbox (inbox/welcomeInbox.ts); default one over `storage` with `limits`. */
  inbox?: WelcomeInbox;
  /**
   * Bans (moderation/bans.ts): a hub-wide banned user's frames and key packages are refused,
   * a room-banned user's frames to that room, and commits adding a banned user (BANNED).
   */
  bans?: BanPolicy;
  /** Moderation's side of the in-process shards (moderation/shardModeration.ts): kicks, sweeps. */
  shardModeration?: ShardModeration;
  limits?: Partial<HubLimits>;
  /**
   * Who a device speaks for (identity/authentication.ts); default: the development
   * authenticator (users name themselves) over this storage's device registry.
   */
  authentication?: Authentication;
  /** Closes a revoked device's sessions (HubHost's control). */
  closeDevice?: (senderId: bigint, reason: string) => void;
  /** Federation (DESIGN §11); absent: this hub federates with nobody, exactly as before. */
  federation?: FederationSetup;
}

export type { InBandModeration, ModerationRequest } from "./hubRequests.js";

interface Session {
  deviceKey: Uint8Array;
  senderId: bigint;
  userId: string;
  /**
   * The session's allowance of PRESENCE/TYPING frames (ephemeralGate.ts), made on its first
   * one: most sessions idle, and an idle session keeps only what it needs.
   */
  ephemeral?: EphemeralGate;
  /** A peer hub's user whose request the peer forwarded (federation). */
  peer?: true;
}

export class HubCore {
  private readonly sessions = new Map<string, Session>();
  private readonly quota: RoomQuota;
  readonly limits: HubLimits;
  readonly keyPackages: KeyPackageDirectory;
  /** The device registry: owners, listing, revocation (identity/devices.ts). */
  readonly devices: DeviceRegistry;
  readonly authentication: Authentication;
  readonly claimLimits: ClaimRateLimiter;
  private moderation: InBandModeration | undefined;
  private readonly moderationAnswers: ModerationAnswers;
  /** Every new leaf names its registered owner (identity/leafBinding.ts). */
  private readonly leaves: LeafBinding;
  /** Refused room access is audited (hub/accessAudit.ts). */
  private readonly access: AccessAudit;

  private constructor(
    private readonly deps: HubCoreDeps,
    readonly shards: ShardSet,
    limits: HubLimits,
    readonly inbox: WelcomeInbox,
    /** Rooms across hubs (federation/federationCore.ts), when federation is on. */
    readonly federation?: FederationCore,
  ) {
    this.limits = limits;
    this.quota = new RoomQuota(limits, deps.clock);
    this.keyPackages = new KeyPackageDirectory(deps.storage, limits);
    // The hub thread's storage: with worker shards the main directory, not a shard's.
    this.moderationAnswers = new ModerationAnswers(deps.storage);
    this.authentication =
      deps.authentication ??
      new Authentication({
        storage: deps.storage,
        authenticators: [devAuthenticator],
        maxDevicesPerUser: limits.maxDevicesPerUser,
      });
    this.devices = new DeviceRegistry({
      storage: deps.storage,
      clock: deps.clock,
      ...(deps.closeDevice === undefined ? {} : { closeDevice: deps.closeDevice }),
    });
    this.access = new AccessAudit({ storage: deps.storage, clock: deps.clock });
    this.leaves = new LeafBinding({
      devices: this.devices,
      storage: deps.storage,
      clock: deps.clock,
      remoteOwner: (senderId) => this.federation?.remoteOwner(senderId),
    });
    this.claimLimits = new ClaimRateLimiter(deps.clock, limits);
  }

  /** Who a device speaks for (DESIGN §10); the session asks once the device proved its key. */
  async authenticate(req: AuthRequest): Promise<AuthVerdict> {
    const v = await this.authentication.authenticate(req);
    if (!v.ok && (v.code === "DEVICE_TAKEN" || v.code === "DEVICE_REVOKED")) {
      await this.devices.refusedAuthentication(req.senderId, v.code);
    }
    return v;
  }

  /** Opens the hub over its storage; every room is restored by the shard that owns it. */
  static async open(given: HubCoreDeps): Promise<HubCore> {
    const limits = { ...DEFAULT_HUB_LIMITS, ...given.limits };
    const inbox = given.inbox ?? new WelcomeInbox(given.storage, given.clock, limits);
    const federation =
      given.federation === undefined
        ? undefined
        : new FederationCore({
            ...given.federation,
            signer: given.hubSigner,
            clock: given.clock,
            storage: given.storage,
            rng: given.rng,
            ...(given.bans === undefined ? {} : { bans: given.bans }),
            ephemeralAllowance: () => new EphemeralGate(given.clock),
          });
    // Every frame the hub emits passes federation first: it takes those for other hubs
    // (before the inbox keeps a Welcome: one for a remote device is its hub's to keep).
    const viaFederation = (next: Sink): Sink =>
      federation === undefined
        ? next
        : (t, f) => {
            if (!federation.intercept(t, f)) next(t, f);
          };
    const dropStale = (next: Sink): Sink =>
      federation === undefined
        ? next
        : (t, f) => {
            if (!federation.staleShardOutput(t, f)) next(t, f);
          };
    const deps: HubCoreDeps = { ...given, sink: viaFederation(given.sink) };
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
          // Welcomes to devices are kept in the inbox on their way out; what a sequencer
          // emits for a room this hub lost is dropped (FederationCore.staleShardOutput).
          sink: dropStale(viaFederation(inbox.capture(given.sink))),
          groups: deps.groups,
          limits,
          ...(deps.bans === undefined ? {} : { bans: deps.bans }),
          ...(federation === undefined
            ? {}
            : {
                federation: {
                  domain: federation.domain,
                  writeRefusal: (roomId: bigint) => federation.writeRefusal(roomId),
                },
              }),
        },
        limits.maxBatch,
        deps.shardModeration,
      );
    }
    const hub = new HubCore(deps, shards, limits, inbox, federation);
    const handoverOf = (roomId: bigint) =>
      askShard<RoomHandover | undefined>(shards, shardOf(roomId, shards.count), {
        q: "handover",
        roomId,
      });
    federation?.attach({
      peerRequest: (replyTo, frame, from) => hub.peerRequest(replyTo, frame, from),
      syncPage: (roomId, from, limit) => hub.roomPage(roomId, from, limit),
      // Local delivery; Welcomes for this hub's devices are kept in its inbox.
      sink: inbox.capture(given.sink),
      remoteLive: (senderId, live) => shards.broadcast({ t: "live", senderId, live }),
      memberDomains: (roomId) =>
        askShard<string[] | undefined>(shards, shardOf(roomId, shards.count), {
          q: "memberDomains",
          roomId,
        }),
      settle: () => shards.drain(),
      ...(shards.ownStorage === true
        ? {
            eraseCopy: async (roomId: bigint, logIndex: bigint) => {
              await shards.deliver(shardOf(roomId, shards.count), { t: "erase", roomId, logIndex });
            },
          }
        : {}),
      enlistHubs: async (roomId, keys) => {
        const r = await shards.deliver(shardOf(roomId, shards.count), {
          t: "enlist",
          roomId,
          keys,
        });
        return r?.ok === true && r.logIndex === undefined;
      },
      handoverOf,
      ...(shards.ownStorage !== true
        ? {}
        : {
            shardLogEnd: async (roomId: bigint) => {
              await shards.drain();
              return (await handoverOf(roomId))?.nextIndex;
            },
          }),
      installRoom: async (h) => {
        // The room's log, as this hub's replica holds it, into the shard that will sequence it.
        const copied = await copyLogToShard(shards, deps.storage, h.meta.roomId, h.nextIndex);
        if (copied !== undefined) return copied;
        const r = await shards.deliver(shardOf(h.meta.roomId, shards.count), {
          t: "install",
          ...h,
        });
        return r?.ok === false ? r.refusal : undefined;
      },
    });
    // Rooms are counted where they live: each shard's own storage with worker shards.
    hub.quota.restore(
      (await askAllShards(shards, { q: "rooms" })).length,
      await askAllShards<string>(shards, { q: "roomCreators" }),
    );
    return hub;
  }

  /** Lets KICK/BAN/REDACT frames through to moderation (set once moderation is built on this hub). */
  setModeration(m: InBandModeration | undefined): void {
    this.moderation = m;
  }

  /** The transport authenticated `sessionId` as this device of this user. */
  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void {
    const senderId = deriveSenderId(devicePublicKey);
    this.detachSession(sessionId);
    this.sessions.set(sessionId, {
      deviceKey: new Uint8Array(devicePublicKey),
      senderId,
      userId,
    });
    this.shards.broadcast({ t: "live", senderId, live: true });
    // The Welcomes waiting for the device, after its AUTH_OK (inbox/welcomeInbox.ts); not
    // if the session went (or became another device) while the inbox was read.
    void this.inbox.deliver(
      senderId,
      (frame) => this.deps.sink({ kind: "session", sessionId }, frame),
      () => this.sessions.get(sessionId)?.senderId === senderId,
    );
  }

  detachSession(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    this.sessions.delete(sessionId);
    this.shards.broadcast({ t: "live", senderId: s.senderId, live: false });
  }

  /** Rooms on this hub: counted in the shards at open, plus those created since. */
  get roomCount(): number {
    return this.quota.roomCount;
  }

  /** An operator deleted a room: it leaves the room counts (hub/roomQuota.ts). */
  roomDeleted(creator: string | undefined): void {
    this.quota.forget(creator);
  }

  /** Rooms `userId` has created (the per-user quota's count). */
  roomsCreatedBy(userId: string): number {
    return this.quota.createdBy(userId);
  }

  /**
   * Applies changed limits (SIGHUP): `maxRooms` and `maxRoomsPerUser` here,
   * `maxMembersPerRoom` in every shard.
   */
  reconfigure(
    limits: Pick<HubLimits, "maxRooms" | "maxMembersPerRoom"> &
      Partial<Pick<HubLimits, "maxRoomsPerUser" | "maxRoomCreationsPerMinute">>,
  ): void {
    Object.assign(this.limits, limits); // the room quota reads these at each ROOM_CREATE
    this.shards.broadcast({ t: "limits", limits: { maxMembersPerRoom: limits.maxMembersPerRoom } });
  }

  /**
   * Handles one frame as raw bytes from a session that did not check it (tests, tools):
   * parsed, its sender and signature checked against the session, then `handleVerified`.
   * Never throws for anything the peer sent.
   */
  async handleFrame(
    sessionId: string,
    senderId: bigint,
    bytes: Uint8Array,
  ): Promise<Outcome | undefined> {
    const session = this.sessions.get(sessionId);
    if (session === undefined) {
      return this.refuseRaw(
        sessionId,
        bytes,
        refuse("UNAUTHENTICATED", "session not authenticated"),
      );
    }
    let frame: Frame;
    try {
      frame = Frame.fromWire(bytes, { maxPayload: this.limits.maxPayload });
    } catch (e) {
      if (e instanceof ProtocolError)
        return this.refuseRaw(sessionId, bytes, refuse(e.code, e.message));
      return this.refuseRaw(sessionId, bytes, refuse("BAD_PAYLOAD", String((e as Error)?.message)));
    }
    const h = frame.header;
    if (h.senderId !== session.senderId || senderId !== session.senderId) {
      return this.refuseRaw(
        sessionId,
        bytes,
        refuse("SENDER_MISMATCH", "sender_id is not the session's device"),
      );
    }
    if (this.limits.verifySignatures && !verifyFrameSignature(frame, session.deviceKey)) {
      return this.refuseRaw(
        sessionId,
        bytes,
        refuse("BAD_SIGNATURE", "frame signature does not verify"),
      );
    }
    return this.handleVerified(sessionId, frame);
  }

  /**
   * Handles one frame the session parsed and verified (sender_id is the session's device,
   * the signature verifies against its key: runtime/node/session.ts). The frame is not
   * parsed again here nor in the shard. Never throws for anything the peer sent.
   */
  async handleVerified(sessionId: string, frame: Frame): Promise<Outcome | undefined> {
    const session = this.sessions.get(sessionId);
    if (session === undefined) {
      const r = refuse("UNAUTHENTICATED", "session not authenticated");
      this.deps.sink({ kind: "session", sessionId }, errorFrame(frame.header, r));
      return { ok: false, refusal: r };
    }
    return this.route(sessionId, session, frame);
  }

  /**
   * A request a peer hub forwarded for one of its users (federation): checked and routed
   * as a local session's (bans, credentials, room rules), answered to `replyTo`.
   */
  peerRequest(replyTo: string, frame: Frame, from: PeerRequester): Promise<Outcome | undefined> {
    const session: Session = { ...from, ephemeral: new EphemeralGate(this.deps.clock), peer: true };
    return this.route(replyTo, session, frame);
  }

  /** Federation takes the frames for other hubs (HubHost asks before routing each target). */
  intercept(target: Target, frame: Uint8Array): boolean {
    return this.federation?.intercept(target, frame) ?? false;
  }

  /** A SYNC_PAGE of a room this hub sequences, from the shard that owns it (replicas catching up). */
  async roomPage(roomId: bigint, from: bigint, limit: number) {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "query",
      query: { q: "syncPage", roomId, from, limit },
    });
    const data = r?.ok === true ? (r as { data?: unknown }).data : undefined;
    return data as PayloadOf<typeof Opcode.SYNC_PAGE> | undefined;
  }

  private async route(
    sessionId: string,
    session: Session,
    frame: Frame,
  ): Promise<Outcome | undefined> {
    const reply = { kind: "session", sessionId } as const;
    const h = frame.header;
    const fail = (r: Refusal): Outcome => {
      this.deps.sink(reply, errorFrame(h, r));
      return { ok: false, refusal: r };
    };
    if ((h.flags & HUB_ONLY_FLAGS) !== 0) {
      return fail(refuse("FORBIDDEN", "clients send plain requests"));
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
    // Credentials bound to identity (DESIGN §10), here because the registry is not in the
    // shards; only frames that can bring a leaf take the await (not every APP_MESSAGE).
    if (LEAF_OPCODES.has(h.opcode)) {
      const unbound = await this.leaves.check(frame, session);
      if (unbound !== undefined) return fail(unbound);
    }
    const fed = this.federation;
    if (fed !== undefined && session.peer === undefined) {
      const ctx = { federation: fed, storage: this.deps.storage, limits: this.limits };
      const routed = routeFederated(ctx, sessionId, session, frame);
      if (routed !== undefined) return routed;
    }
    if (HUB_REQUEST_OPCODES.has(h.opcode)) {
      try {
        await answerHubRequest(this.requestContext(), frame, { sessionId, ...session });
      } catch (e) {
        if (e instanceof ProtocolError) return fail(refuse(e.code, e.message));
        throw e;
      }
      return undefined;
    }
    if (!isRoomRequest(h.opcode)) {
      return fail(refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not a hub request`));
    }
    if (isEphemeral(h.opcode)) {
      session.ephemeral ??= new EphemeralGate(this.deps.clock);
      const refused = session.ephemeral.check(frame);
      if (refused !== undefined) return fail(refused);
    }
    // Federation: whether the room takes writes, decided here for worker shards too.
    const writeRefusal = fed?.writeRefusal(h.roomId);
    const msg = {
      t: "frame",
      sessionId,
      deviceKey: session.deviceKey,
      userId: session.userId,
      header: requestFields(h),
      bytes: frame.toWire(),
      ...(writeRefusal === undefined ? {} : { writeRefusal }),
    } as const;
    const shard = shardOf(h.roomId, this.shards.count);
    if (ACCESS_OPCODES.has(h.opcode)) {
      return this.access.note(await this.shards.deliver(shard, msg), h, session.userId);
    }
    if (h.opcode !== Opcode.ROOM_CREATE) return this.shards.deliver(shard, msg);
    // The quotas count creations in flight too (hub/roomQuota.ts).
    const refused = this.quota.reserve(session.userId);
    if (refused !== undefined) return fail(refused);
    let created = false;
    try {
      const r = await this.shards.deliver(shard, msg);
      created = r?.ok === true;
      return r;
    } finally {
      this.quota.settle(session.userId, created);
    }
  }

  /** An ERROR to a frame that may not even parse: request_id/room_id/epoch as far as its bytes go. */
  private refuseRaw(sessionId: string, bytes: Uint8Array, r: Refusal): Outcome {
    this.deps.sink({ kind: "session", sessionId }, errorFrame(requestHeaderOf(bytes), r));
    return { ok: false, refusal: r };
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

  /** The user's role in the room (owner, admin, member), undefined for a non-member. */
  async roomRole(roomId: bigint, userId: string): Promise<string | undefined> {
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "query",
      query: { q: "role", roomId, userId },
    });
    const data = r?.ok === true ? (r as { data?: unknown }).data : undefined;
    return typeof data === "string" ? data : undefined;
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
    // Only the room's authority erases: a replica's copy goes with the authority's REDACTION
    // notice (federation/replicaRedaction.ts), so no hub keeps a hole no notice explains.
    const elsewhere = this.federation?.writeRefusal(roomId);
    if (elsewhere !== undefined) return { ok: false, refusal: elsewhere };
    const r = await this.shards.deliver(shardOf(roomId, this.shards.count), {
      t: "erase",
      roomId,
      logIndex,
    });
    // With worker shards the main storage may hold a second copy: the replica this hub kept
    // before it took the room over (federation). It goes too, or it would be served again
    // once the room moves on. (Read first: most rooms have no such copy, and an erasure is a
    // durable write.) In-process shards share the main storage: that one erasure was all.
    if (r?.ok === true && this.shards.ownStorage === true) {
      const [copy] = this.deps.storage.readRange(roomId, logIndex, 1);
      if (copy?.logIndex === logIndex && copy.payload !== null) {
        await this.deps.storage.secureDelete(roomId, logIndex);
      }
    }
    return r ?? { ok: false, refusal: refuse("INTERNAL", "no outcome") };
  }

  async close(): Promise<void> {
    await this.shards.close();
  }

  private nowSeconds(): bigint {
    return this.deps.clock.now() / 1000n;
  }

  private requestContext(): HubRequestContext {
    return {
      sink: this.deps.sink,
      signer: this.deps.hubSigner,
      keyPackages: this.keyPackages,
      devices: this.devices,
      claimLimits: this.claimLimits,
      inbox: this.inbox,
      bans: this.deps.bans,
      moderation: this.moderation,
      moderationAnswers: this.moderationAnswers,
      nowSeconds: this.nowSeconds(),
    };
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
