/**
 * Wires HubCore into the Node runtime: resolves the core's sink targets (session, device,
 * room members) to live WebTransport sessions, enforces the hub-wide limits the core does
 * not know (max rooms, max members per room) before a frame reaches it, and measures
 * request → response latencies for /metrics.
 *
 * Member counts come from the core's own fan-out (`members` targets list every member
 * device of the room), so the runtime never parses MLS to know a room's size.
 */
import {
  decodePayload,
  errorFrame,
  Flag,
  FrameHeader,
  maySend,
  Opcode,
  opcodeTraits,
} from "@kalandra/proto";
import { ed25519KeySigner, ed25519SeedOf } from "@kalandra/proto/node";
import { DEFAULT_HUB_LIMITS, HubCore } from "../../hub/hubCore.js";
import type { Ban } from "../../moderation/bans.js";
import { shardRoomData, syncBans } from "../../moderation/roomData.js";
import { shardModeration } from "../../moderation/shardModeration.js";
import { publicGroupViews } from "../../sequencer/publicGroupViews.js";
import type { ShardSet } from "../../shards/shardSet.js";
import type { BanPolicy } from "../../vocabulary/bans.js";
import type { Target } from "../../vocabulary/target.js";
import type { CoreDeps } from "./daemon.js";
import type { Metrics } from "./metrics.js";
import type { FrameHandler } from "./session.js";
import { WorkerShards } from "./shards/workerShards.js";
import { type HubKey, hubKeySigner } from "./wire.js";

/** Where the adapter sends frames (the WebTransport listener). */
export interface Delivery {
  deliver(sessionId: string, frame: Uint8Array): boolean;
  deliverToDevice(senderId: bigint, frame: Uint8Array): number;
}

export interface HubLimitsView {
  maxRooms: number;
  maxMembersPerRoom: number;
}

/**
 * Requests answered only once something is durably appended (the storage latency
 * histogram): a client's sequenced frames, and moderation, which appends removals,
 * redactions and audit entries.
 */
function answeredAfterAppend(opcode: number): boolean {
  const t = opcodeTraits(opcode);
  return t !== undefined && maySend(opcode, "client") && (t.sequenced || t.family === "moderation");
}
const MAX_PENDING = 100_000;

export class HubAdapter implements FrameHandler {
  private readonly members = new Map<bigint, number>();
  private knownRooms: number;
  private readonly pending = new Map<string, { t: bigint; opcode: number }>();
  private readonly inFlight = new Set<Promise<void>>();
  core!: HubCore;

  constructor(
    private readonly delivery: () => Delivery | undefined,
    private readonly hub: HubKey,
    private limits: HubLimitsView,
    private readonly metrics: Metrics,
    initialRooms: number,
  ) {
    this.knownRooms = initialRooms;
    metrics.rooms.set(initialRooms);
  }

  /**
   * Opens the hub core. With `workers`, its shards are worker threads (runtime/node/shards/workerShards.ts),
   * each over its own LMDB directory `<path>/shard-<i>` (the hub's `deps.storage` then holds
   * key packages and the audit log only), and `bans` is copied into them on every change.
   * Without, the shards run in this thread over `deps.storage`.
   */
  static async open(
    deps: CoreDeps,
    delivery: () => Delivery | undefined,
    extra: {
      bans?: BanPolicy & { list?(): Ban[]; onChange?(fn: (bans: Ban[]) => void): void };
      workers?: {
        count: number;
        path: string;
        /** A worker stopped without being closed (its rooms answer INTERNAL from then on). */
        onFailure?: (index: number, error: Error) => void;
      };
    } = {},
  ): Promise<HubAdapter> {
    const c = deps.config;
    const adapter = new HubAdapter(
      delivery,
      deps.hubKey,
      { maxRooms: c.limits.max_rooms, maxMembersPerRoom: c.limits.max_members_per_room },
      deps.metrics,
      deps.storage.listRooms().length,
    );
    let shards: ShardSet | undefined;
    if (extra.workers !== undefined) {
      shards = await WorkerShards.start({
        count: extra.workers.count,
        hubSeed: ed25519SeedOf(deps.hubKey.privateKey),
        sink: (target, frame) => adapter.route(target, frame),
        setupOptions: {
          path: extra.workers.path,
          hubKey: deps.hubKey.publicKey,
          noSync: c.database.sync === "none",
        },
        maxBatch: DEFAULT_HUB_LIMITS.maxBatch,
        ...(extra.workers.onFailure === undefined ? {} : { onFailure: extra.workers.onFailure }),
      });
    }
    adapter.core = await HubCore.open({
      storage: deps.storage,
      clock: deps.clock,
      rng: deps.rng,
      timers: deps.timers,
      hubSigner: ed25519KeySigner(deps.hubKey.privateKey),
      sink: (target, frame) => adapter.route(target, frame),
      groups: publicGroupViews(deps.hubKey.publicKey),
      limits: {
        maxPayload: c.limits.max_payload_bytes,
        shards: c.server.shards === 0 ? 1 : c.server.shards,
        // The session layer verified sender_id and signature already (session.ts).
        verifySignatures: false,
      },
      ...(extra.bans === undefined ? {} : { bans: extra.bans }),
      ...(shards === undefined ? {} : { shards }),
      shardModeration,
    });
    const bans = extra.bans;
    if (shards !== undefined && bans?.list !== undefined && bans.onChange !== undefined) {
      syncBans(shards, { list: () => bans.list?.() ?? [], onChange: (fn) => bans.onChange?.(fn) });
    }
    // Rooms are counted where they live (each shard's storage with worker shards).
    adapter.knownRooms = (await shardRoomData(adapter.core.shards).listRooms()).length;
    deps.metrics.rooms.set(adapter.knownRooms);
    return adapter;
  }

  reconfigure(limits: HubLimitsView): void {
    this.limits = limits;
  }

  attachSession(sessionId: string, devicePublicKey: Uint8Array, userId: string): void {
    this.core.attachSession(sessionId, devicePublicKey, userId);
  }

  detachSession(sessionId: string): void {
    this.core.detachSession(sessionId);
  }

  async handleFrame(sessionId: string, senderId: bigint, bytes: Uint8Array): Promise<void> {
    const h = FrameHeader.view(bytes);
    const refusal = this.checkLimits(h.opcode, h.roomId, bytes);
    if (refusal) {
      this.metrics.framesRejected.inc({ code: refusal.code });
      this.delivery()?.deliver(
        sessionId,
        errorFrame(hubKeySigner(this.hub), { requestId: h.requestId, roomId: h.roomId }, refusal),
      );
      return;
    }
    if (answeredAfterAppend(h.opcode)) {
      // Requests whose session vanished never get a response: forget them wholesale.
      if (this.pending.size >= MAX_PENDING) this.pending.clear();
      this.pending.set(`${sessionId}/${h.requestId}`, {
        t: process.hrtime.bigint(),
        opcode: h.opcode,
      });
    }
    const p = this.core.handleFrame(sessionId, senderId, bytes);
    this.inFlight.add(p);
    try {
      await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  /** Waits for the frames the core is still working on (appends in flight), at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Stops the shards: worker threads finish what was delivered, flush and close their LMDB. */
  async close(): Promise<void> {
    await this.core.close();
  }

  private checkLimits(
    opcode: number,
    roomId: bigint,
    bytes: Uint8Array,
  ): { code: "TOO_MANY_ROOMS" | "ROOM_FULL"; message: string } | undefined {
    if (opcode === Opcode.ROOM_CREATE) {
      if (this.knownRooms >= this.limits.maxRooms)
        return {
          code: "TOO_MANY_ROOMS",
          message: `this hub holds its maximum of ${this.limits.maxRooms} rooms`,
        };
      return undefined;
    }
    const count = this.members.get(roomId);
    if (count === undefined) return undefined;
    let adding = 0;
    if (opcode === Opcode.EXTERNAL_COMMIT) adding = 1;
    else if (opcode === Opcode.COMMIT) {
      try {
        adding = decodePayload(Opcode.COMMIT, bytes.subarray(128)).welcome_recipients?.length ?? 0;
      } catch {
        return undefined; // the core answers malformed payloads itself
      }
    }
    if (adding > 0 && count + adding > this.limits.maxMembersPerRoom) {
      return {
        code: "ROOM_FULL",
        message: `a room holds at most ${this.limits.maxMembersPerRoom} members`,
      };
    }
    return undefined;
  }

  /** The core's sink. */
  route(target: Target, frame: Uint8Array): void {
    const d = this.delivery();
    if (!d) return;
    switch (target.kind) {
      case "session":
        this.observe(target.sessionId, frame);
        d.deliver(target.sessionId, frame);
        return;
      case "device":
        d.deliverToDevice(target.senderId, frame);
        return;
      case "members": {
        const before = this.members.get(target.roomId);
        if (before !== target.senderIds.length) {
          this.members.set(target.roomId, target.senderIds.length);
          this.metrics.roomMembers.inc(target.senderIds.length - (before ?? 0));
        }
        for (const id of target.senderIds) d.deliverToDevice(id, frame);
        return;
      }
    }
  }

  /** Request → response latency, and room counting from successful ROOM_CREATEs. */
  private observe(sessionId: string, frame: Uint8Array): void {
    const h = FrameHeader.view(frame);
    if ((h.flags & Flag.RESPONSE) === 0) return;
    const key = `${sessionId}/${h.requestId}`;
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const ok = h.opcode !== Opcode.ERROR;
    const seconds = Number(process.hrtime.bigint() - p.t) / 1e9;
    if (ok) this.metrics.storageAppend.observe(seconds);
    if (p.opcode === Opcode.COMMIT) this.metrics.commitDuration.observe(seconds);
    if (ok && p.opcode === Opcode.ROOM_CREATE) {
      this.knownRooms++;
      this.metrics.rooms.set(this.knownRooms);
    }
  }
}
