/**
 * `KalandraClient`: one device taking part in Kalandra rooms (DESIGN §7, docs/client.md).
 * It talks to the hub only through an injected `HubConnection`, with time, randomness,
 * timers and persistence injected too, so the same core runs over WebTransport and in the
 * simulation harness.
 *
 * Concurrency: every change to client state runs on one serial queue (`#run`). Responses
 * to requests bypass the queue (they only resolve promises), so a queued task may wait for
 * the hub; `#syncRoom` and the intents wait for the hub *outside* the queue.
 */
import {
  type Clock,
  Flag,
  isSequenced,
  Opcode,
  type Rng,
  type TimerHandle,
  type Timers,
} from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import {
  createEnvelope,
  type EnvelopeContent,
  encodeEnvelope,
  type MessageEnvelope,
} from "./envelope/index.js";
import { encodeMessage, joinFromWelcome, members } from "./mls/group.js";
import { exportNotificationKeys } from "./notify/export.js";
import { type ApplyContext, enterEpoch, memberBySender, senderKeysFor } from "./state/apply.js";
import {
  type Device,
  encodeOwnKeyPackage,
  generateKeyPackages,
  type OwnKeyPackage,
} from "./state/device.js";
import { ClientError, HubError, hubError } from "./state/errors.js";
import { type ClientListener, Emitter } from "./state/events.js";
import { Intents } from "./state/intents.js";
import {
  keyPackageKey,
  loadKeyPackages,
  loadOrCreateDevice,
  loadRooms,
  persistRoom,
  RequestIds,
} from "./state/persistence.js";
import { DEFAULT_REQUEST_POLICY, type RequestPolicy, RequestTracker } from "./state/requests.js";
import { Room, type RoomPhase } from "./state/room.js";
import { RoomSync } from "./state/sync.js";

export { ClientError, HubError, hubError };

import {
  buildFrame,
  fieldBytes,
  fieldNumber,
  fieldU64,
  parseFrame,
  payloadOf,
  verifyFrame,
  type WireFrame,
} from "./state/wire.js";
import type { ClientStore } from "./store.js";

/** The transport seam (docs/contracts.md "Client ↔ hub transport"). */
export interface HubConnection {
  send(frame: Uint8Array): void;
  onFrame(cb: (frame: Uint8Array) => void): void;
  close(): void;
}

export interface KalandraClientOptions {
  connection: HubConnection;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  store: ClientStore;
  /** The hub's Ed25519 public key: its frames are verified against it. */
  hubPublicKey: Uint8Array;
  /** ts-mls cipher suite implementation (suite 1; the fast node:crypto provider in Node). */
  cs: CiphersuiteImpl;
  /** User id for a device created on first open; ignored when the store holds a device. */
  userId: string;
  requestPolicy?: Partial<RequestPolicy>;
  /** Key packages kept in the hub's directory (default 8). */
  keyPackageTarget?: number;
  /** Frames asked for per SYNC_REQUEST (default 256). */
  syncPageSize?: number;
  /**
   * Every this many ms each room asks the hub for frames past its last log_index, so a
   * lost fan-out frame with nothing after it is still found (0 = off, the default).
   */
  syncIntervalMs?: number;
  /**
   * True when the `HubConnection` authenticates the session itself (the WebTransport
   * connection does HELLO/AUTH per session): `connect()` then skips the handshake.
   */
  transportAuthenticates?: boolean;
}

export interface RoomView {
  roomId: bigint;
  phase: RoomPhase;
  epoch: bigint;
  nextLogIndex: bigint;
  members: string[];
  treeHash: Uint8Array | undefined;
}

export class KalandraClient {
  readonly device: Device;
  readonly #o: KalandraClientOptions;
  readonly #events = new Emitter();
  readonly #rooms: Map<bigint, Room>;
  readonly #keyPackages: Map<string, OwnKeyPackage>;
  readonly #sync: RoomSync;
  readonly #requestIds: RequestIds;
  readonly #requests: RequestTracker;
  readonly #intents: Intents;
  readonly #ctx: ApplyContext;
  #conn: HubConnection;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #syncTimer: TimerHandle | undefined;
  readonly #rejoining = new Set<bigint>();

  private constructor(
    o: KalandraClientOptions,
    device: Device,
    requestIds: RequestIds,
    keyPackages: Map<string, OwnKeyPackage>,
    rooms: Map<bigint, Room>,
  ) {
    this.#o = o;
    this.device = device;
    this.#requestIds = requestIds;
    this.#keyPackages = keyPackages;
    this.#rooms = rooms;
    this.#conn = o.connection;
    this.#requests = new RequestTracker((b) => this.#conn.send(b), o.timers, {
      ...DEFAULT_REQUEST_POLICY,
      ...o.requestPolicy,
    });
    this.#ctx = {
      cs: o.cs,
      hubPublicKey: o.hubPublicKey,
      ownSenderId: device.senderId,
      events: this.#events,
    };
    this.#sync = new RoomSync({
      ctx: this.#ctx,
      run: (fn) => this.#run(fn),
      request: async (opcode, roomId, epoch, payload) =>
        this.expectAck(await this.request(opcode, roomId, epoch, payload)),
      persist: (room, mls) => this.persist(room, mls),
      onDiverged: (room) => this.#onDiverged(room),
      pageSize: o.syncPageSize ?? 256,
    });
    this.#intents = new Intents(this);
    this.#listen(o.connection);
  }

  /** Opens the client, reloading the device, key packages and rooms from the store. */
  static async open(o: KalandraClientOptions): Promise<KalandraClient> {
    const device = await loadOrCreateDevice(o.store, o.userId, o.rng);
    return new KalandraClient(
      o,
      device,
      await RequestIds.load(o.store),
      await loadKeyPackages(o.store, device),
      await loadRooms(o.store),
    );
  }

  get senderId(): bigint {
    return this.device.senderId;
  }

  get userId(): string {
    return this.device.userId;
  }

  /** Subscribes to client events; returns the unsubscribe function. */
  on(listener: ClientListener): () => void {
    return this.#events.on(listener);
  }

  /** Authenticates, keeps the key package stock up, and resumes every room from its log_index. */
  async connect(): Promise<void> {
    if (!this.#o.transportAuthenticates) {
      // Nothing but the handshake goes out until AUTH_OK (then everything held is sent).
      this.#requests.holdUntilAuthenticated();
      try {
        await this.#authenticate();
      } catch (e) {
        this.#requests.release(); // never hold requests forever; the retry timers resend
        throw e;
      }
    }
    this.#requests.resendAll();
    if (this.#keyPackages.size === 0) await this.uploadKeyPackages(this.#o.keyPackageTarget ?? 8);
    await Promise.all([...this.#rooms.values()].map((r) => this.#resume(r)));
    this.#armPeriodicSync();
  }

  /** HELLO → AUTH_CHALLENGE → AUTH_RESPONSE → AUTH_OK (docs/contracts.md). */
  async #authenticate(): Promise<void> {
    const challenge = this.expectAck(
      await this.request(Opcode.HELLO, 0n, 0n, {
        device_key: this.device.publicKey,
        user_id: this.device.userId,
        client: "kalandra-client/0.1",
      }),
    );
    const cp = payloadOf(challenge);
    if (Buffer.compare(fieldBytes(cp, "hub_key"), this.#o.hubPublicKey) !== 0)
      throw new ClientError("wrong_hub", "the hub presented another key");
    const ok = this.expectAck(
      await this.request(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce: fieldBytes(cp, "nonce") }),
    );
    if (fieldU64(payloadOf(ok), "sender_id") !== this.device.senderId)
      throw new ClientError("wrong_sender_id", "the hub assigned another sender_id");
  }

  #armPeriodicSync(): void {
    const every = this.#o.syncIntervalMs ?? 0;
    if (every <= 0 || this.#syncTimer !== undefined || this.#closed) return;
    this.#syncTimer = this.#o.timers.set(every, () => {
      this.#syncTimer = undefined;
      if (this.#closed) return;
      for (const r of this.#rooms.values())
        if (r.state !== undefined && !r.removed) void this.syncRoom(r).catch(() => undefined);
      this.#armPeriodicSync();
    });
  }

  /** Waits `ms` on the injected timers. @internal */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#o.timers.set(ms, resolve));
  }

  /** Marks the connection lost: nothing is sent and rooms fall back to Disconnected. */
  disconnect(): void {
    this.#requests.setOnline(false);
    for (const r of this.#rooms.values()) r.synced = false;
    this.#conn.close();
  }

  /** Continues over a new connection: re-authenticates and syncs every room. */
  async reconnect(connection: HubConnection): Promise<void> {
    this.#conn = connection;
    this.#listen(connection);
    // Requests left from the old connection wait for the new session's handshake:
    // sent before it, the hub would refuse them UNAUTHENTICATED.
    this.#requests.setOnline(true, false);
    await this.connect();
  }

  /** Stops timers and outstanding requests; persisted state stays in the store. */
  close(): void {
    this.#closed = true;
    if (this.#syncTimer !== undefined) this.#o.timers.clear(this.#syncTimer);
    this.#requests.failAll(new ClientError("closed", "client closed"));
    this.#conn.close();
    for (const r of this.#rooms.values()) r.dropKeys();
  }

  /** Erases every persisted byte and zeroes the secrets held in memory. */
  async erase(): Promise<void> {
    await this.#run(async () => {
      for (const key of await this.#o.store.keys("")) await this.#o.store.delete(key);
      for (const r of this.#rooms.values()) {
        r.dropKeys();
        // Key schedule, secret tree, path secrets, in-flight states: every byte array
        // reachable from the room's MLS states (public parts too, they are gone anyway).
        zeroDeep(r.state);
        for (const op of r.inflight.values()) zeroDeep(op);
      }
      for (const kp of this.#keyPackages.values()) zeroDeep(kp.privatePackage);
      this.#keyPackages.clear();
      this.#rooms.clear();
      this.device.destroy();
    });
    this.close();
  }

  room(roomId: bigint): RoomView | undefined {
    const r = this.#rooms.get(roomId);
    if (r === undefined) return undefined;
    return {
      roomId,
      phase: r.phase(),
      epoch: r.epoch,
      nextLogIndex: r.nextIndex,
      members: r.state ? members(r.state).map((m) => m.userId) : [],
      treeHash: r.state?.groupContext.treeHash,
    };
  }

  rooms(): bigint[] {
    return [...this.#rooms.keys()];
  }

  /** Creates a room with this device as its only member; resolves with its id. */
  createRoom(roomId?: bigint): Promise<bigint> {
    return this.#intents.createRoom(roomId);
  }

  /** Adds every device of each user (claims their key packages, commits, sends Welcomes). */
  addMembers(roomId: bigint, userIds: readonly string[]): Promise<void> {
    return this.#intents.addMembers(roomId, userIds);
  }

  removeMembers(roomId: bigint, userIds: readonly string[]): Promise<void> {
    return this.#intents.removeMembers(roomId, userIds);
  }

  /** Empty commit with an update path: fresh leaf keys (RFC 9420 §12.4). */
  update(roomId: bigint): Promise<void> {
    return this.#intents.update(roomId);
  }

  /** Proposes the own removal; another member commits it (RFC 9420 §12.1.3). */
  leave(roomId: bigint): Promise<void> {
    return this.#intents.leave(roomId);
  }

  /**
   * Registers a room this device expects to be added to: it shows as `pendingWelcome`
   * until the Welcome arrives (a Welcome for an unregistered room is accepted too).
   */
  async expectWelcome(roomId: bigint): Promise<void> {
    await this.#run(async () => {
      if (this.#rooms.has(roomId)) return;
      const room = new Room(roomId);
      this.#rooms.set(roomId, room);
      await this.persist(room, false);
    });
  }

  /** Joins a room by external commit from the hub's GroupInfo (RFC 9420 §12.4.3.2). */
  joinExternal(roomId: bigint): Promise<void> {
    return this.#intents.joinExternal(roomId);
  }

  /**
   * Sends a message: envelope content (text, edit, reply, reaction, attachment; an id and
   * timestamp are added), a ready envelope, or raw bytes. Sealed with the epoch's sender
   * key (DESIGN §7); resolves with the log_index the hub gave it.
   */
  send(roomId: bigint, message: EnvelopeContent | MessageEnvelope | Uint8Array): Promise<bigint> {
    let plaintext: Uint8Array;
    if (message instanceof Uint8Array) plaintext = message;
    else if ("id" in message && "sent_at" in message) plaintext = encodeEnvelope(message);
    else
      plaintext = encodeEnvelope(
        createEnvelope(message, { clock: this.#o.clock, rng: this.#o.rng }),
      );
    return this.#intents.send(roomId, plaintext);
  }

  /**
   * The current epoch's sender keys of every room, as the compact blob a push process
   * decrypts with (`@kalandra/client/notify`, DESIGN §7).
   */
  exportNotificationKeys(): Promise<Uint8Array> {
    return this.#run(async () => {
      const keys = [];
      for (const r of this.#rooms.values()) {
        if (r.state === undefined || r.removed) continue;
        keys.push(await senderKeysFor(r, this.#o.cs));
      }
      return exportNotificationKeys(keys);
    });
  }

  /** Commits whatever proposals are pending (what a COMMIT_REQUEST asks for). */
  commitPending(roomId: bigint): Promise<void> {
    return this.#intents.commitPending(roomId);
  }

  /** Generates `count` key packages, keeps their private keys, uploads them (KP_UPLOAD). */
  async uploadKeyPackages(count: number): Promise<void> {
    const kps = await generateKeyPackages(this.device, count, this.#o.clock, this.#o.cs);
    for (const kp of kps) {
      this.#keyPackages.set(kp.ref, kp);
      await this.#o.store.put(keyPackageKey(kp.ref), encodeOwnKeyPackage(kp));
    }
    const resp = await this.request(Opcode.KP_UPLOAD, 0n, 0n, {
      key_packages: kps.map((k) =>
        encodeMessage({
          version: "mls10",
          wireformat: "mls_key_package",
          keyPackage: k.publicPackage,
        }),
      ),
      last_resort: false,
    });
    this.expectAck(resp);
  }

  // ---- internals shared with Intents -------------------------------------------------

  /** @internal */
  get options(): KalandraClientOptions {
    return this.#o;
  }

  /** @internal */
  get ctx(): ApplyContext {
    return this.#ctx;
  }

  /** @internal */
  getRoom(roomId: bigint): Room | undefined {
    return this.#rooms.get(roomId);
  }

  /** @internal */
  addRoom(room: Room): void {
    this.#rooms.set(room.roomId, room);
  }

  /** @internal */
  ownKeyPackages(): ReadonlyMap<string, OwnKeyPackage> {
    return this.#keyPackages;
  }

  /** Runs `fn` on the serial queue. @internal */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.#run(fn);
  }

  #run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Builds a signed request frame with a fresh request_id. @internal */
  frame(
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
  ): Uint8Array {
    const requestId = this.#requestIds.next();
    return buildFrame(
      { opcode, requestId, roomId, senderId: this.device.senderId, epoch, payload },
      this.device.signer,
    );
  }

  /** Sends a request (resent until answered) and returns the hub's response. @internal */
  async request(
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
  ): Promise<WireFrame> {
    return this.sendFrame(this.frame(opcode, roomId, epoch, payload));
  }

  /** @internal */
  sendFrame(bytes: Uint8Array): Promise<WireFrame> {
    if (this.#closed) return Promise.reject(new ClientError("closed", "client closed"));
    return this.#requests.request(parseFrame(bytes).requestId, bytes);
  }

  /** Throws the hub's ERROR as a `HubError`. @internal */
  expectAck(resp: WireFrame): WireFrame {
    if ((resp.flags & Flag.ERROR) !== 0) throw hubError(resp);
    return resp;
  }

  /** @internal */
  persist(room: Room, mls: boolean): Promise<void> {
    return persistRoom(this.#o.store, room, mls);
  }

  /** @internal */
  async forgetKeyPackage(ref: string): Promise<void> {
    this.#keyPackages.delete(ref);
    await this.#o.store.delete(keyPackageKey(ref));
  }

  /** Places an own frame the hub accepted into the room's log order. @internal */
  acceptOwn(room: Room, frameBytes: Uint8Array, ack: WireFrame): Promise<void> {
    return this.#sync.acceptOwn(room, frameBytes, ack);
  }

  /** Resolves once the room has applied `logIndex`. @internal */
  waitApplied(room: Room, logIndex: bigint): Promise<void> {
    return this.#sync.waitApplied(room, logIndex);
  }

  /** Applies everything the hub has after the room's last applied log_index. @internal */
  syncRoom(room: Room): Promise<void> {
    return this.#sync.syncRoom(room);
  }

  async #resume(room: Room): Promise<void> {
    if (room.removed || room.state === undefined) return;
    await this.syncRoom(room);
    // Own frames still in flight after the sync were not sequenced: ask again with the same
    // request_id (the hub answers a repeat with its first answer) or drop them if stale.
    await this.#intents.resumeInflight(room);
  }

  #listen(conn: HubConnection): void {
    conn.onFrame((bytes) => {
      if (conn !== this.#conn || this.#closed) return;
      let f: WireFrame;
      try {
        f = parseFrame(bytes);
      } catch {
        return;
      }
      if ((f.flags & Flag.RESPONSE) !== 0) {
        if (f.senderId === 0n && verifyFrame(f, this.#o.hubPublicKey)) this.#requests.resolve(f);
        return;
      }
      void this.#run(() => this.#onPush(f)).catch((error: unknown) =>
        this.#events.emit({
          type: "error",
          error: error instanceof Error ? error : new Error(String(error)),
        }),
      );
    });
  }

  async #onPush(f: WireFrame): Promise<void> {
    if (isSequenced(f.opcode)) {
      const room = this.#rooms.get(f.roomId);
      if (room !== undefined) await this.#sync.ingest(room, f);
      return;
    }
    if (f.senderId !== 0n || !verifyFrame(f, this.#o.hubPublicKey)) return;
    const p = payloadOf(f);
    switch (f.opcode) {
      case Opcode.WELCOME:
        await this.#onWelcome(f, fieldBytes(p, "welcome"), fieldU64(p, "epoch"));
        return;
      case Opcode.COMMIT_REQUEST:
        void this.#intents
          .commitPending(f.roomId, fieldU64(p, "epoch"), fieldNumber(p, "pending"))
          .catch(() => undefined);
        return;
      case Opcode.KP_STATUS: {
        const missing = (this.#o.keyPackageTarget ?? 8) - fieldNumber(p, "remaining");
        if (missing > 0) void this.uploadKeyPackages(missing).catch(() => undefined);
        return;
      }
      default:
        return;
    }
  }

  async #onWelcome(f: WireFrame, welcome: Uint8Array, epoch: bigint): Promise<void> {
    const existing = this.#rooms.get(f.roomId);
    // A repeat, or a late Welcome for an epoch this device already went past (it joined
    // another way, or was added and removed since): nothing to do.
    if (existing?.state !== undefined && (!existing.removed || epoch <= existing.epoch)) return;
    let joined: Awaited<ReturnType<typeof joinFromWelcome>>;
    try {
      joined = await joinFromWelcome(welcome, this.#keyPackages, this.#o.cs);
    } catch (e) {
      this.#events.emit({ type: "error", error: e instanceof Error ? e : new Error(String(e)) });
      return;
    }
    await this.forgetKeyPackage(joined.usedRef);
    const room = new Room(f.roomId);
    // The WELCOME header carries the log_index of the commit that added us: apply from
    // the frame after it (frames of earlier epochs are skipped anyway).
    room.nextIndex = f.logIndex + 1n;
    this.#rooms.set(f.roomId, room);
    await enterEpoch(this.#ctx, room, undefined, joined.state);
    this.#events.emit({ type: "joined", roomId: f.roomId, epoch: room.epoch });
    await this.persist(room, true);
    void this.syncRoom(room).catch(() => undefined);
  }

  /**
   * The room's state can no longer follow the log: report it and rejoin once by external
   * commit with resync (the hub's GroupInfo is the current truth, RFC 9420 §12.4.3.2).
   */
  #onDiverged(room: Room): void {
    this.#events.emit({
      type: "error",
      error: new ClientError("diverged", `room ${room.roomId} left the hub's order; rejoining`),
    });
    if (this.#rejoining.has(room.roomId)) return;
    this.#rejoining.add(room.roomId);
    void this.#intents.joinExternal(room.roomId).catch((error: unknown) =>
      this.#events.emit({
        type: "error",
        error: error instanceof Error ? error : new Error(String(error)),
      }),
    );
  }

  /** @internal */
  memberSenderIds(room: Room): Set<bigint> {
    return room.state ? new Set(memberBySender(room.state).keys()) : new Set();
  }
}

/** Zeroes every Uint8Array reachable from `v` (objects, arrays, maps), each once. */
function zeroDeep(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== "object" || seen.has(v)) return;
  seen.add(v);
  if (v instanceof Uint8Array) {
    v.fill(0);
    return;
  }
  const children = v instanceof Map ? v.values() : Object.values(v as Record<string, unknown>);
  for (const c of children) zeroDeep(c, seen);
}
