/**
 * A simulated hub: the shipped `HubHost` (sessions, devices, routing, device limits) over
 * the real `HubCore` and the real LMDB storage (in a temp directory, behind `SimDisk`),
 * with one real `Session` (the shipped auth handshake and per-frame checks,
 * packages/server/src/runtime/node/session.ts) per client connection: the simulated
 * network is the host's second runtime, next to kalandrad's WebTransport listener.
 * Everything the node holds in memory is dropped by `crash`; `restart` reopens the same
 * directory.
 */
import { type Clock, createDeviceSigner, type DeviceSigner, deriveSenderId } from "@kalandra/proto";
import { ed25519PrivateKeyObject } from "@kalandra/proto/node";
import {
  type AppendEntry,
  Authentication,
  type Authenticator,
  type FederationSetup,
  HubCore,
  HubHost,
  type HubKey,
  type HubLimits,
  InProcessShards,
  inBandModeration,
  type LmdbStorage,
  loadModerationState,
  Moderation,
  type Outcome,
  openLmdbStorage,
  publicGroupViews,
  Session,
  type SessionHub,
  type SessionLimits,
  shardModeration,
  type Target,
} from "@kalandra/server";
import type { LeafRef } from "./invariants/identityChecks.js";
import type { SimNetwork } from "./network.js";
import type { SeededRng } from "./rng.js";
import type { Scheduler } from "./scheduler.js";
import { SimDisk } from "./simDisk.js";

export const HUB = "hub";

/** What the invariants read of a room's sequencer. */
export interface HubRoomView {
  readonly epoch: bigint;
  readonly treeHash: Uint8Array;
  readonly nextIndex: bigint;
  readonly removalPending: boolean;
  members(): readonly bigint[];
  /** The public view of the group: each leaf's device and the user its credential names. */
  readonly group: { members(): readonly LeafRef[] };
}

export const SIM_SESSION_LIMITS: SessionLimits = {
  maxPayloadBytes: 1 << 24,
  connectionRatePerSec: 10_000,
  connectionBurst: 10_000,
  maxStrikes: 50,
  authTimeoutMs: 30_000,
  // The shipped defaults (config/schema.ts): clients ping when quiet, the hub closes silent ones.
  keepaliveIntervalMs: 60_000,
  idleTimeoutMs: 150_000,
};

/** Devices per user: attackers may hold many devices of their own. */
const SIM_MAX_DEVICES_PER_USER = 64;

/** Per-device rate limit in the simulation: high, so only the session protocol is exercised. */
const SIM_DEVICE_LIMITS = { deviceRatePerSec: 10_000, deviceBurst: 10_000 };

export interface HubNodeOptions {
  dir: string;
  scheduler: Scheduler;
  network: SimNetwork;
  rng: SeededRng;
  clock: Clock;
  limits?: Partial<HubLimits>;
  /**
   * Who each device speaks for: the simulation's identity provider (identity.ts) in place
   * of development mode's self-naming, over the hub's device registry (DESIGN §10).
   */
  authenticator: Authenticator;
  /** Called as the hub attaches an authenticated session (session_owner). */
  onAuthenticated?(senderId: bigint, userId: string): void;
  /** Called when the hub side of a client's connection closes (the client must reconnect). */
  onConnectionClosed(client: string, reason: string): void;
  /** Observes every frame the hub core emits (invariants on fan-out). */
  onSink?(target: Target, frame: Uint8Array): void;
  /** Observes every append buffered by the disk. */
  onAppend?(entries: readonly AppendEntry[]): void;
  /** Federation (DESIGN §11): this hub's peers and its links to them. */
  federation?: FederationSetup;
  /** The hub's name on the network and the scheduler (default `HUB`; a federation world names each hub by its domain). */
  node?: string;
  /** Bytes from a node that is not a client (a peer hub's link); default: treated as a client's. */
  onPeerBytes?(from: string, bytes: Uint8Array): boolean;
}

interface Conn {
  id: string;
  session: Session;
}

export class HubNode {
  readonly signer: DeviceSigner;
  readonly key: HubKey;
  host: HubHost<HubCore> | undefined;
  /** Kick, ban, redaction (audit-logged), as kalandrad composes it over the same core. */
  moderation: Moderation | undefined;
  disk: SimDisk | undefined;
  lmdb: LmdbStorage | undefined;
  /** client name → its current connection. */
  readonly #conns = new Map<string, Conn>();
  #connSeq = 0;
  incarnation = 0;
  readonly node: string;

  constructor(private readonly o: HubNodeOptions) {
    this.node = o.node ?? HUB;
    const seed = o.rng.fork("hub-key").bytes(32);
    this.signer = createDeviceSigner(seed);
    this.key = {
      privateKey: ed25519PrivateKeyObject(seed),
      publicKey: this.signer.publicKey,
    };
    o.network.attach(this.node, (from, bytes) => {
      if (o.onPeerBytes?.(from, bytes) === true) return;
      this.#fromClient(from, bytes);
    });
  }

  get up(): boolean {
    return this.host !== undefined;
  }

  /** The hub core while the hub is up. */
  get core(): HubCore | undefined {
    return this.host?.core;
  }

  /** Opens (or reopens after a crash) storage and the hub core. */
  async start(): Promise<void> {
    const inc = ++this.incarnation;
    const rng = this.o.rng.fork(`incarnation-${inc}`);
    this.lmdb = await openLmdbStorage({
      path: this.o.dir,
      rng: rng.fork("storage"),
      clock: this.o.clock,
      noSync: true,
    });
    this.disk = new SimDisk(this.lmdb, {
      scheduler: this.o.scheduler,
      node: this.node,
      rng: rng.fork("disk"),
      ...(this.o.onAppend === undefined ? {} : { onAppend: this.o.onAppend }),
    });
    const timers = this.o.scheduler.timersFor(this.node);
    const disk = this.disk;
    const onSink = this.o.onSink;
    // Bans and retention policies are audit records, replayed before the first frame.
    const { bans, retention } = loadModerationState(disk);
    const host = await HubHost.open(
      {
        clock: this.o.clock,
        limits: SIM_DEVICE_LIMITS,
        ...(onSink === undefined ? {} : { observer: { emitted: onSink } }),
      },
      (sink, control) =>
        HubCore.open({
          storage: disk,
          clock: this.o.clock,
          rng: rng.fork("core"),
          timers,
          hubSigner: this.signer,
          sink,
          groups: publicGroupViews(this.signer.publicKey),
          bans,
          shardModeration,
          closeDevice: control.closeDevice,
          authentication: new Authentication({
            storage: disk,
            authenticators: [this.o.authenticator],
            maxDevicesPerUser: SIM_MAX_DEVICES_PER_USER,
          }),
          ...(this.o.limits === undefined ? {} : { limits: this.o.limits }),
          ...(this.o.federation === undefined ? {} : { federation: this.o.federation }),
        }),
    );
    this.moderation = new Moderation({
      hub: host.core,
      storage: disk,
      clock: this.o.clock,
      timers,
      bans,
      retention,
    });
    host.core.setModeration(
      inBandModeration(this.moderation, {
        moderators: () => [],
        roomRole: (roomId, userId) => host.core.roomRole(roomId, userId),
        clock: this.o.clock,
      }),
    );
    this.host = host;
  }

  /**
   * Power loss: buffered writes beyond `written` are lost, every session and in-memory
   * object is dropped, the node's timers die. The LMDB handle is closed so the directory
   * can be reopened by `start`.
   */
  async crash(written: number): Promise<void> {
    this.o.scheduler.crash(this.node);
    const disk = this.disk;
    const conns = [...this.#conns.keys()];
    this.host = undefined;
    this.moderation = undefined;
    this.disk = undefined;
    this.lmdb = undefined;
    this.#conns.clear();
    if (disk !== undefined) {
      await disk.crash(written);
      await disk.close();
    }
    for (const c of conns) this.o.onConnectionClosed(c, "hub crashed");
  }

  async restart(): Promise<void> {
    this.o.scheduler.restart(this.node);
    await this.start();
  }

  /** A new connection from `client` (its previous one, if any, is closed). */
  openConnection(client: string): void {
    const host = this.host;
    if (host === undefined) return;
    const old = this.#conns.get(client);
    if (old !== undefined) {
      this.#conns.delete(client);
      old.session.close("replaced by a new connection");
      host.disconnect(old.id);
    }
    const id = `${client}#${++this.#connSeq}`;
    const session: Session = new Session({
      id,
      io: {
        send: (frame) => this.o.network.send(this.node, client, frame),
        close: (reason) => {
          host.disconnect(id);
          if (this.#conns.get(client)?.id !== id) return;
          this.#conns.delete(client);
          this.o.onConnectionClosed(client, reason);
        },
      },
      hubKey: this.key,
      hub: this.#observed(host),
      limits: SIM_SESSION_LIMITS,
      clock: this.o.clock,
      rng: this.o.rng.fork(`session-${id}`),
      timers: this.o.scheduler.timersFor(this.node),
    });
    this.#conns.set(client, { id, session });
    host.connect(id, session);
  }

  /** The host as a session sees it, telling the world which user each session became. */
  #observed(host: HubHost<HubCore>): SessionHub {
    const onAuthenticated = this.o.onAuthenticated;
    if (onAuthenticated === undefined) return host;
    return {
      authenticate: (req) => host.authenticate(req),
      refuseUser: (sessionId, userId) => host.refuseUser(sessionId, userId),
      attachSession: (sessionId, deviceKey, userId) => {
        onAuthenticated(deriveSenderId(deviceKey), userId);
        host.attachSession(sessionId, deviceKey, userId);
      },
      detachSession: (sessionId) => host.detachSession(sessionId),
      handleFrame: (sessionId, frame) => host.handleFrame(sessionId, frame),
      deviceBucket: (senderId) => host.deviceBucket(senderId),
    };
  }

  /** The transport noticed the client is gone (client crash). */
  dropConnection(client: string): void {
    const c = this.#conns.get(client);
    if (c === undefined) return;
    this.#conns.delete(client);
    c.session.close("peer gone");
    this.host?.disconnect(c.id);
  }

  /** Kick (DESIGN §6): the hub proposes the removal of every device of `userId`. */
  async kick(roomId: bigint, userId: string): Promise<Outcome | undefined> {
    return this.core?.kick(roomId, userId);
  }

  /** The room's sequencer (current epoch, members, tree hash) while the hub is up. */
  room(roomId: bigint): HubRoomView | undefined {
    const shards = this.core?.shards;
    if (!(shards instanceof InProcessShards)) return undefined;
    for (const s of shards.shards) {
      const r = s.room(roomId);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  #fromClient(from: string, bytes: Uint8Array): void {
    this.#conns.get(from)?.session.onBytes(bytes);
  }
}
