/**
 * One shard (DESIGN §9): the rooms whose id hashes to it, each with its RoomSequencer,
 * sharing one AppendBatcher so their frames are made durable together (group commit).
 * A shard core is driven by plain messages (`ShardMessage`), so the same object runs
 * in the hub's thread (simulation, tests) or inside a worker thread (Node runtime).
 */
import { errorFrame, HEADER_SIZE, isEphemeral, Opcode, opcodeTraits } from "@kalandra/proto";
import { BlobService } from "../blobs/blobService.js";
import { domainOf } from "../identity/userId.js";
import { noAccess } from "../sequencer/access.js";
import { AppendBatcher } from "../sequencer/appendBatcher.js";
import type { SequencerEnv, SequencerLimits } from "../sequencer/env.js";
import { syncPage } from "../sequencer/queries.js";
import { roleOf } from "../sequencer/roomPolicy.js";
import { RoomSequencer } from "../sequencer/roomSequencer.js";
import { checkMember } from "../sequencer/rules.js";
import {
  type FrameSigner,
  type ParsedFrame,
  ProtocolError,
  type RequestFields,
} from "../sequencer/wire.js";
import type { RoomMeta, Storage } from "../storage/types.js";
import type { Ban, BanListCopy, BanPolicy } from "../vocabulary/bans.js";
import { type KickedLeaves, type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { RetentionPolicy, RoomCursor } from "../vocabulary/retention.js";
import type { Sink } from "../vocabulary/target.js";
import { appendImported, dropImportedLog, type ImportEntry } from "./logImport.js";
import {
  auditPage,
  deleteRoom,
  deviceRooms,
  roomIds,
  roomInfo,
  type ShardRooms,
  userRooms,
} from "./roomAdmin.js";
import { shardOf } from "./shardOf.js";

/**
 * A frame the session already parsed and verified against its device key: the bytes as
 * received and the header fields read from them (plain data, so the shard, in this thread
 * or a worker, never parses the frame again).
 */
export interface FrameMessage {
  t: "frame";
  sessionId: string;
  deviceKey: Uint8Array;
  userId: string;
  header: RequestFields;
  bytes: Uint8Array;
  /**
   * Federation: why nothing may be sequenced in the room now (TRANSFERRING while it moves,
   * NOT_AUTHORITY once another hub has it), as the hub thread's federation core says when
   * it routes the frame. A worker shard cannot ask the core at decision time; a request
   * routed before a transfer's proposal is in the handover, which is read only after the
   * shards drained (federation/roomTransfers.ts), so the check at routing suffices there.
   */
  writeRefusal?: Refusal;
}

export type ShardMessage =
  | FrameMessage
  | { t: "live"; senderId: bigint; live: boolean }
  | { t: "removal"; roomId: bigint; leaf: number; proposal: Uint8Array }
  | { t: "notice"; roomId: bigint; opcode: Opcode; payload: unknown }
  | { t: "erase"; roomId: bigint; logIndex: bigint }
  | { t: "kick"; roomId: bigint; userId: string }
  /** Federation: list these hub keys as the room's MLS external senders (moderation/enlistHubs.ts). */
  | { t: "enlist"; roomId: bigint; keys: Uint8Array[] }
  /** The hub's ban list, whole (worker shards keep a copy; in process the hub's is shared). */
  | { t: "bans"; bans: Ban[] }
  /** Limits changed at run time (SIGHUP): `max_members_per_room`. */
  | { t: "limits"; limits: Pick<SequencerLimits, "maxMembersPerRoom"> }
  /** An operator deletes the room (shards/roomAdmin.ts); again = finish or extend it. */
  | { t: "deleteRoom"; roomId: bigint; dropHeaders: boolean; actor: string }
  /**
   * Federation: this hub takes the room over from its old authority (federation/
   * roomTransfers.ts). Its log is here (the replica) up to `nextIndex`: the room's metadata
   * and state are stored and its sequencer restarts from them.
   */
  | { t: "install"; meta: RoomMeta; roomState: Uint8Array; nextIndex: bigint }
  /**
   * Federation with worker shards: entries of a room's replica copied into this shard's
   * storage before `install` (logImport.ts); answered with the log's end after them.
   */
  | { t: "importLog"; roomId: bigint; entries: ImportEntry[] }
  /** This shard's log of the room is another history (logImport.ts): erased and dropped. */
  | { t: "dropLog"; roomId: bigint }
  | { t: "query"; query: ShardQuery };

/**
 * Reads of the rooms' data that moderation needs, answered by the shard that owns the
 * room's storage (`{ok: true, data}`; moderation/roomData.ts). Room lists and the user index
 * cover this shard's rooms only, so shards sharing one storage answer without overlap.
 */
export type ShardQuery =
  | { q: "rooms" }
  /** The creator of each of this shard's rooms that has one (per-user room quota). */
  | { q: "roomCreators" }
  | { q: "room"; roomId: bigint }
  /** Member devices summed over this shard's rooms (the `kalandra_room_members` gauge). */
  | { q: "members" }
  /** A user's role in a room (roomPolicy.ts), undefined when not a member or no room. */
  | { q: "role"; roomId: bigint; userId: string }
  | { q: "entry"; roomId: bigint; logIndex: bigint }
  /** Federation: the users' domains of the room's member devices (undefined: no room here). */
  | { q: "memberDomains"; roomId: bigint }
  /** Federation: where the room's log ends, with its stored state and metadata (a handover). */
  | { q: "handover"; roomId: bigint }
  /** Federation: where this shard's storage's log of the room ends (logImport.ts). */
  | { q: "logEnd"; roomId: bigint }
  /** A SYNC_PAGE of a room of this shard for a replica catching up (federation), or undefined. */
  | { q: "syncPage"; roomId: bigint; from: bigint; limit: number }
  | { q: "userIndex"; userId: string }
  /** The operator's view (shards/roomAdmin.ts): rooms of this shard among `roomIds`. */
  | { q: "roomInfo"; roomIds: bigint[] }
  /** This shard's deleted rooms that still hold live payloads (an interrupted deletion). */
  | { q: "unfinishedDeletions" }
  | { q: "userRooms"; userId: string }
  | { q: "deviceRooms"; senderId: bigint }
  /** A page of this shard's own audit chain (worker shards: its secure_delete records). */
  | { q: "audit"; from: number; limit: number }
  | {
      q: "sweepPlan";
      roomId: bigint;
      policy: RetentionPolicy;
      nowMs: bigint;
      at: RoomCursor;
      budget: number;
    };

export type SweepQuery = Extract<ShardQuery, { q: "sweepPlan" }>;

/**
 * What a shard asks of moderation, which implements it (moderation/shardModeration.ts):
 * moderation is a client of the cores and no core imports it (docs/architecture.md,
 * "Folders and what they may import"). Without it a shard refuses kicks and sweeps.
 */
export interface ShardModeration {
  /** A ban list of the shard's own, kept current by "bans" messages (worker threads). */
  banList(): BanListCopy;
  /** Proposes the removal of every device of `userId`, built where the room's GroupInfo is. */
  kick(
    room: RoomSequencer,
    userId: string,
    signer: FrameSigner,
  ): Promise<{ ok: true; kick: KickedLeaves } | { ok: false; refusal: Refusal }>;
  /**
   * Proposes listing `keys` (other hubs of the room) as its MLS external senders, so any of
   * them can kick once it sequences the room; undefined when nothing is to be done.
   */
  enlist?(
    room: RoomSequencer,
    keys: Uint8Array[],
    signer: FrameSigner,
  ): Promise<Outcome | "listed" | "pending">;
  /** One step of a room's retention sweep, planned where the room's storage is. */
  planSweep(storage: Storage, q: SweepQuery): unknown;
}

export interface ShardCoreOptions {
  index: number;
  count: number;
  env: Omit<SequencerEnv, "batcher" | "isLive">;
  maxBatch?: number;
  moderation?: ShardModeration;
}

/** Requests whose refusal must not tell an outsider whether the room exists. */
const ACCESS_OPCODES: ReadonlySet<number> = new Set([
  Opcode.GROUP_INFO_FETCH,
  Opcode.EXTERNAL_COMMIT,
  Opcode.ROOM_POLICY,
  Opcode.ROOM_POLICY_FETCH,
]);

export class ShardCore {
  readonly index: number;
  private readonly rooms = new Map<bigint, RoomSequencer>();
  private readonly creating = new Map<bigint, Promise<unknown>>();
  private readonly live = new Map<bigint, number>();
  private readonly env: SequencerEnv;
  private readonly count: number;
  /** The shard's own copy of the ban list when the env shares none (worker threads). */
  private readonly ownBans: BanListCopy | undefined;
  private readonly moderation: ShardModeration | undefined;
  readonly batcher: AppendBatcher;
  /** Attachments of this shard's rooms (blobs/): upload, fetch, collection. */
  readonly blobs: BlobService;

  private constructor(opts: ShardCoreOptions) {
    this.index = opts.index;
    this.count = opts.count;
    this.batcher = new AppendBatcher(opts.env.storage, opts.maxBatch);
    this.moderation = opts.moderation;
    this.ownBans = opts.env.bans === undefined ? opts.moderation?.banList() : undefined;
    const bans: BanPolicy | undefined = opts.env.bans ?? this.ownBans;
    this.env = {
      ...opts.env,
      batcher: this.batcher,
      isLive: (s) => (this.live.get(s) ?? 0) > 0,
      ...(bans === undefined ? {} : { bans }),
    };
    const env = this.env;
    this.blobs = new BlobService({
      store: env.storage.blobs,
      clock: env.clock,
      timers: env.timers,
      hubSigner: env.hubSigner,
      sink: env.sink,
      // Read at each decision, so a limits change reaches it like the rooms' limits.
      get limits() {
        return env.limits.attachments;
      },
    });
  }

  /** Opens the shard and restores every room of it from storage (issue 3, restart). */
  static open(opts: ShardCoreOptions): ShardCore {
    const shard = new ShardCore(opts);
    for (const roomId of opts.env.storage.listRooms()) {
      if (shardOf(roomId, opts.count) !== opts.index) continue;
      if (opts.env.storage.getRoomState(roomId) === undefined) continue;
      shard.rooms.set(roomId, RoomSequencer.restore(shard.env, roomId));
    }
    shard.blobs.resumeSweep();
    return shard;
  }

  get sink(): Sink {
    return this.env.sink;
  }

  room(roomId: bigint): RoomSequencer | undefined {
    return this.rooms.get(roomId);
  }

  roomIds(): bigint[] {
    return [...this.rooms.keys()];
  }

  /** Applies one message; resolves when the request it carries has been answered. */
  async deliver(msg: ShardMessage): Promise<Outcome | undefined> {
    switch (msg.t) {
      case "live": {
        const n = (this.live.get(msg.senderId) ?? 0) + (msg.live ? 1 : -1);
        if (n > 0) this.live.set(msg.senderId, n);
        else this.live.delete(msg.senderId);
        return undefined;
      }
      case "removal": {
        const room = this.rooms.get(msg.roomId);
        if (room === undefined) {
          return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${msg.roomId}`) };
        }
        return room.proposeRemoval(msg.leaf, msg.proposal);
      }
      case "notice": {
        const room = this.rooms.get(msg.roomId);
        if (room === undefined) {
          return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${msg.roomId}`) };
        }
        return room.sequenceNotice(msg.opcode, msg.payload);
      }
      case "erase": {
        // The shard owns the room's storage (its own directory in the worker runtime).
        const erased = await this.env.storage.secureDelete(msg.roomId, msg.logIndex);
        return erased
          ? { ok: true, logIndex: msg.logIndex }
          : { ok: false, refusal: refuse("NOT_FOUND", "nothing to erase at that index") };
      }
      case "kick": {
        // Built here, where the room's current GroupInfo is (moderation/removal.ts).
        const room = this.rooms.get(msg.roomId);
        if (room === undefined) {
          return { ok: false, refusal: refuse("UNKNOWN_ROOM", `no room ${msg.roomId}`) };
        }
        if (this.moderation === undefined) {
          return { ok: false, refusal: refuse("FORBIDDEN", "no moderation in this shard") };
        }
        const r = await this.moderation.kick(room, msg.userId, this.env.hubSigner);
        // A kick also takes the user's invite and role (DESIGN §10), member or not.
        const expelled = await room.expel(msg.userId);
        if (r.ok) {
          if (expelled?.ok === true && expelled.logIndex !== undefined) {
            r.kick.logIndexes = [...r.kick.logIndexes, expelled.logIndex];
          }
          return { ok: true, kick: r.kick };
        }
        if (r.refusal.code === "NOT_MEMBER" && expelled?.ok === true) {
          const logIndexes = expelled.logIndex === undefined ? [] : [expelled.logIndex];
          return { ok: true, kick: { leaves: [], logIndexes, alreadyPending: [] } };
        }
        return r;
      }
      case "enlist": {
        const room = this.rooms.get(msg.roomId);
        if (room === undefined || this.moderation?.enlist === undefined) return undefined;
        const r = await this.moderation.enlist(room, msg.keys, this.env.hubSigner);
        // Every key listed already: the federation core asks again only for other voters.
        return r === "listed" ? { ok: true } : undefined;
      }
      case "bans":
        this.ownBans?.replace(msg.bans);
        return undefined;
      case "limits":
        // Every room reads its limits from this env at decision time.
        this.env.limits = { ...this.env.limits, ...msg.limits };
        return undefined;
      case "deleteRoom":
        return deleteRoom(this.operatorView(), msg);
      case "install":
        return this.install(msg);
      case "importLog":
        return {
          ok: true,
          logIndex: await appendImported(this.env.storage, msg.roomId, msg.entries),
        };
      case "dropLog":
        await dropImportedLog(this.env.storage, msg.roomId);
        return { ok: true };
      case "query":
        return { ok: true, data: this.query(msg.query) } as Outcome;
      case "frame":
        return this.onFrame(msg);
    }
  }

  private query(q: ShardQuery): unknown {
    const storage = this.env.storage;
    const mine = (roomId: bigint) => shardOf(roomId, this.count) === this.index;
    switch (q.q) {
      // Deleted rooms are tombstones: not counted, listed or moderated (roomAdmin.ts).
      case "rooms":
        return roomIds(this.operatorView());
      case "roomCreators":
        return roomIds(this.operatorView()).flatMap((id) => storage.getRoom(id)?.creator ?? []);
      case "room": {
        const meta = storage.getRoom(q.roomId);
        return meta !== undefined && meta.deleted === undefined;
      }
      case "roomInfo":
        return q.roomIds.flatMap((id) => roomInfo(this.operatorView(), id) ?? []);
      case "unfinishedDeletions":
        return roomIds(this.operatorView(), true).filter(
          (id) => storage.livePayloads(id, 0n, 1).length > 0,
        );
      case "userRooms":
        return userRooms(this.operatorView(), q.userId);
      case "deviceRooms":
        return deviceRooms(this.operatorView(), q.senderId);
      case "audit":
        return auditPage(storage, q.from, q.limit);
      case "role": {
        const room = this.rooms.get(q.roomId);
        if (room === undefined) return undefined;
        return roleOf(room.policy, q.userId, room.hasMemberUser(q.userId));
      }
      case "members": {
        let n = 0;
        for (const r of this.rooms.values()) n += r.members().length;
        return n;
      }
      case "entry": {
        const [f] = storage.readRange(q.roomId, q.logIndex, 1);
        if (f === undefined || f.logIndex !== q.logIndex) return undefined;
        return { logIndex: f.logIndex, header: f.header, erased: f.payload === null };
      }
      case "userIndex":
        return storage.userIndex(q.userId).filter((e) => mine(e.roomId));
      case "syncPage":
        return this.rooms.has(q.roomId) ? syncPage(this.env, q.roomId, q.from, q.limit) : undefined;
      case "memberDomains": {
        const room = this.rooms.get(q.roomId);
        if (room === undefined) return undefined;
        const users = room.members().map((s) => room.member(s)?.userId ?? "");
        return [...new Set(users.flatMap((u) => domainOf(u) ?? []))];
      }
      case "logEnd":
        return storage.nextIndex(q.roomId);
      case "handover": {
        const meta = storage.getRoom(q.roomId);
        const roomState = storage.getRoomState(q.roomId);
        if (meta === undefined || roomState === undefined) return undefined;
        return { meta, roomState, nextIndex: storage.nextIndex(q.roomId) };
      }
      case "sweepPlan":
        return this.moderation?.planSweep(storage, q);
    }
  }

  private async onFrame(msg: FrameMessage): Promise<Outcome> {
    const reply = { kind: "session", sessionId: msg.sessionId } as const;
    const h = msg.header;
    const frame: ParsedFrame = {
      header: h,
      payload: msg.bytes.subarray(HEADER_SIZE),
      bytes: msg.bytes,
    };
    const fail = (r: Refusal): Outcome => {
      this.env.sink(reply, errorFrame(h, r));
      return { ok: false, refusal: r };
    };
    const request = {
      frame,
      reply,
      userId: msg.userId,
      deviceKey: msg.deviceKey,
      ...(msg.writeRefusal === undefined ? {} : { writeRefusal: msg.writeRefusal }),
    };
    if (h.opcode === Opcode.ROOM_CREATE) {
      // Two creations of one room in flight: the second waits and then finds it.
      while (this.creating.has(h.roomId)) await this.creating.get(h.roomId);
      if (this.rooms.has(h.roomId) || this.env.storage.getRoom(h.roomId) !== undefined) {
        return fail(refuse("ROOM_EXISTS", `room ${h.roomId} exists`));
      }
      const p = RoomSequencer.create(this.env, request, msg.deviceKey);
      this.creating.set(h.roomId, p);
      try {
        const r = await p.catch((e: unknown) => {
          if (e instanceof ProtocolError)
            return { ok: false as const, refusal: refuse(e.code, e.message) };
          throw e;
        });
        if (!r.ok) return fail(r.refusal);
        this.rooms.set(h.roomId, r.room);
        return { ok: true, logIndex: 0n };
      } finally {
        this.creating.delete(h.roomId);
      }
    }
    const room = this.rooms.get(h.roomId);
    if (room === undefined) {
      // Access requests get the answer an outsider gets in a room that exists (access.ts).
      return fail(
        ACCESS_OPCODES.has(h.opcode) ? noAccess() : refuse("UNKNOWN_ROOM", this.noRoom(h.roomId)),
      );
    }
    if (opcodeTraits(h.opcode)?.family === "attachments") {
      return this.blobs.handle(room, request);
    }
    if (isEphemeral(h.opcode)) {
      // Ephemeral: relayed to the other members, never sequenced or stored.
      const outsider = checkMember(room, h.senderId, msg.deviceKey);
      if (outsider !== undefined) return fail(outsider);
      const others = room.members().filter((s) => s !== h.senderId);
      this.env.sink({ kind: "members", roomId: h.roomId, senderIds: others }, msg.bytes);
      return { ok: true };
    }
    // Membership is checked once, by the room's rules (rules.ts checkMember).
    return room.handle(request);
  }

  /**
   * A room taken over from another hub: stored, and its sequencer (re)started from it.
   * Refused when this shard's storage does not hold the log up to where the old authority
   * ended (worker shards keep their own log; the replica is in the hub's main storage).
   */
  private async install(msg: Extract<ShardMessage, { t: "install" }>): Promise<Outcome> {
    const { meta, roomState, nextIndex } = msg;
    const storage = this.env.storage;
    if (storage.nextIndex(meta.roomId) !== nextIndex) {
      const message = `this shard holds the room's log up to ${storage.nextIndex(meta.roomId)}`;
      return { ok: false, refusal: refuse("INTERNAL", message) };
    }
    await storage.putRoom(meta, roomState);
    this.rooms.get(meta.roomId)?.close();
    this.rooms.set(meta.roomId, RoomSequencer.restore(this.env, meta.roomId));
    return { ok: true, logIndex: nextIndex };
  }

  /** Why a room has no sequencer here: never created, or deleted by an operator. */
  private noRoom(roomId: bigint): string {
    return this.env.storage.getRoom(roomId)?.deleted !== undefined
      ? `room ${roomId} was deleted`
      : `no room ${roomId}`;
  }

  /** What the operator's reads and room deletion use of this shard (roomAdmin.ts). */
  private operatorView(): ShardRooms {
    return {
      index: this.index,
      storage: this.env.storage,
      room: (id) => this.rooms.get(id),
      take: (id) => {
        const room = this.rooms.get(id);
        this.rooms.delete(id);
        return room;
      },
      flushed: () => this.batcher.flushed(),
      mine: (id) => shardOf(id, this.count) === this.index,
      now: () => this.env.clock.now(),
      eraseBlobs: (id, actor) => this.blobs.eraseRoom(id, actor),
    };
  }

  /** Stops every room's timers. */
  close(): void {
    for (const r of this.rooms.values()) r.close();
    this.blobs.close();
  }
}
