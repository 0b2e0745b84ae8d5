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
import { type Clock, Opcode, type Rng, type TimerHandle, type Timers } from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import {
  type Device,
  decodeDeviceRecord,
  decodeOwnKeyPackage,
  encodeDeviceRecord,
  encodeOwnKeyPackage,
  generateDevice,
  generateKeyPackages,
  type OwnKeyPackage,
} from "./device.js";
import {
  createEnvelope,
  type EnvelopeContent,
  encodeEnvelope,
  type MessageEnvelope,
} from "./envelope/index.js";
import { decodeState, encodeMessage, encodeState, joinFromWelcome, members } from "./mls/group.js";
import { exportNotificationKeys } from "./notify/export.js";
import {
  type ApplyContext,
  applySequenced,
  enterEpoch,
  memberBySender,
  senderKeysFor,
} from "./state/apply.js";
import { type ClientListener, Emitter } from "./state/events.js";
import { Intents } from "./state/intents.js";
import { DEFAULT_REQUEST_POLICY, type RequestPolicy, RequestTracker } from "./state/requests.js";
import {
  decodeInflight,
  decodeRoomMeta,
  encodeInflight,
  encodeRoomMeta,
  Room,
  type RoomPhase,
  roomKey,
  signatureKey,
} from "./state/room.js";
import {
  buildFrame,
  FrameFlag,
  fieldArray,
  fieldBytes,
  fieldNumber,
  fieldText,
  fieldU64,
  parseEntry,
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
}

export class ClientError extends Error {
  override readonly name = "ClientError";
  constructor(
    readonly code: string,
    message: string,
    readonly expectedEpoch?: bigint,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Hub ERROR frames (docs/contracts.md "Responses") carried as typed errors. */
export class HubError extends Error {
  override readonly name = "HubError";
  constructor(
    readonly code: number,
    readonly hubName: string,
    message: string,
    readonly expectedEpoch?: bigint,
  ) {
    super(`${hubName}: ${message}`);
  }
}

export interface RoomView {
  roomId: bigint;
  phase: RoomPhase;
  epoch: bigint;
  nextLogIndex: bigint;
  members: string[];
  treeHash: Uint8Array | undefined;
}

const SEQUENCED = new Set<number>([
  Opcode.ROOM_CREATE,
  Opcode.PROPOSAL,
  Opcode.COMMIT,
  Opcode.EXTERNAL_COMMIT,
  Opcode.APP_MESSAGE,
  Opcode.REDACTION,
]);
const REQUEST_ID_BLOCK = 1024;
const MAX_AHEAD = 4096;

export class KalandraClient {
  readonly device: Device;
  readonly #o: KalandraClientOptions;
  readonly #events = new Emitter();
  readonly #rooms = new Map<bigint, Room>();
  readonly #keyPackages = new Map<string, OwnKeyPackage>();
  readonly #requests: RequestTracker;
  readonly #intents: Intents;
  readonly #ctx: ApplyContext;
  #conn: HubConnection;
  #queue: Promise<unknown> = Promise.resolve();
  #nextRequestId = 1;
  #reservedRequestId = 0;
  #closed = false;
  readonly #syncing = new Map<bigint, Promise<void>>();
  #syncTimer: TimerHandle | undefined;

  private constructor(o: KalandraClientOptions, device: Device, nextRequestId: number) {
    this.#o = o;
    this.device = device;
    this.#nextRequestId = nextRequestId;
    this.#reservedRequestId = nextRequestId;
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
    this.#intents = new Intents(this);
    this.#listen(o.connection);
  }

  /** Opens the client, reloading the device, key packages and rooms from the store. */
  static async open(o: KalandraClientOptions): Promise<KalandraClient> {
    const rec = await o.store.get("device");
    let device: Device;
    if (rec === undefined) {
      device = generateDevice(o.userId, o.rng);
      await o.store.put("device", encodeDeviceRecord(o.userId, device));
    } else {
      device = decodeDeviceRecord(rec);
    }
    const rid = await o.store.get("meta/request_id");
    const next = rid === undefined ? 1 : new DataView(rid.buffer, rid.byteOffset).getUint32(0);
    const c = new KalandraClient(o, device, next);
    for (const key of await o.store.keys("kp/")) {
      const v = await o.store.get(key);
      const ref = key.slice(3);
      if (v !== undefined) c.#keyPackages.set(ref, decodeOwnKeyPackage(v, ref, device));
    }
    for (const key of await o.store.keys("room/")) {
      if (!key.endsWith("/meta")) continue;
      const roomId = BigInt(`0x${key.slice(5, 37)}`);
      const room = new Room(roomId);
      const meta = await o.store.get(key);
      if (meta !== undefined) decodeRoomMeta(room, meta);
      const mls = await o.store.get(roomKey(roomId, "mls"));
      if (mls !== undefined) room.state = decodeState(mls);
      const inflight = await o.store.get(roomKey(roomId, "inflight"));
      if (inflight !== undefined) {
        for (const op of decodeInflight(inflight))
          room.inflight.set(signatureKey(parseFrame(op.frame)), op);
      }
      c.#rooms.set(roomId, room);
    }
    return c;
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
    const challenge = await this.request(Opcode.HELLO, 0n, 0n, {
      device_key: this.device.publicKey,
      user_id: this.device.userId,
      client: "kalandra-client/0.1",
    });
    const cp = payloadOf(challenge);
    if (Buffer.compare(fieldBytes(cp, "hub_key"), this.#o.hubPublicKey) !== 0)
      throw new ClientError("wrong_hub", "the hub presented another key");
    const ok = await this.request(Opcode.AUTH_RESPONSE, 0n, 0n, { nonce: fieldBytes(cp, "nonce") });
    const okp = payloadOf(ok);
    if (fieldU64(okp, "sender_id") !== this.device.senderId)
      throw new ClientError("wrong_sender_id", "the hub assigned another sender_id");
    if (this.#keyPackages.size === 0) await this.uploadKeyPackages(this.#o.keyPackageTarget ?? 8);
    await Promise.all([...this.#rooms.values()].map((r) => this.#resume(r)));
    this.#armPeriodicSync();
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
    this.#requests.setOnline(true);
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
        if (r.state !== undefined) {
          for (const v of Object.values(r.state.keySchedule))
            if (v instanceof Uint8Array) v.fill(0);
          for (const k of Object.values(r.state.privatePath.privateKeys)) {
            if (k instanceof Uint8Array) k.fill(0);
          }
        }
      }
      for (const kp of this.#keyPackages.values()) {
        kp.privatePackage.initPrivateKey.fill(0);
        kp.privatePackage.hpkePrivateKey.fill(0);
      }
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
      await this.#o.store.put(`kp/${kp.ref}`, encodeOwnKeyPackage(kp));
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
    const requestId = this.#nextRequestId++;
    if (this.#nextRequestId >= this.#reservedRequestId) {
      // Reserve ids in blocks so a restart never reuses one (the hub dedupes on them).
      this.#reservedRequestId = this.#nextRequestId + REQUEST_ID_BLOCK;
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, this.#reservedRequestId);
      void this.#o.store.put("meta/request_id", b);
    }
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
    if ((resp.flags & FrameFlag.ERROR) !== 0) throw hubError(resp);
    return resp;
  }

  /** @internal */
  async persist(room: Room, mls: boolean): Promise<void> {
    const s = this.#o.store;
    if (mls && room.state !== undefined)
      await s.put(roomKey(room.roomId, "mls"), encodeState(room.state));
    await s.put(roomKey(room.roomId, "inflight"), encodeInflight(room));
    await s.put(roomKey(room.roomId, "meta"), encodeRoomMeta(room));
  }

  /** @internal */
  async forgetKeyPackage(ref: string): Promise<void> {
    this.#keyPackages.delete(ref);
    await this.#o.store.delete(`kp/${ref}`);
  }

  /** Places an own frame the hub accepted into the room's log order. @internal */
  async acceptOwn(room: Room, frameBytes: Uint8Array, ack: WireFrame): Promise<void> {
    if (ack.logIndex < room.nextIndex) return;
    const stamped = frameBytes.slice();
    const dv = new DataView(stamped.buffer);
    dv.setBigUint64(36, ack.logIndex);
    dv.setBigUint64(44, ack.hlc);
    room.ahead.set(ack.logIndex, parseFrame(stamped));
    await this.#drain(room);
  }

  /** Resolves once the room has applied `logIndex` (syncing if a gap is in the way). @internal */
  async waitApplied(room: Room, logIndex: bigint): Promise<void> {
    for (let i = 0; i < 8 && room.nextIndex <= logIndex && !room.removed; i++)
      await this.syncRoom(room);
  }

  /** Applies everything the hub has after the room's last applied log_index. @internal */
  syncRoom(room: Room): Promise<void> {
    const running = this.#syncing.get(room.roomId);
    if (running !== undefined) return running;
    const p = this.#syncLoop(room).finally(() => this.#syncing.delete(room.roomId));
    this.#syncing.set(room.roomId, p);
    return p;
  }

  async #syncLoop(room: Room): Promise<void> {
    const limit = this.#o.syncPageSize ?? 256;
    for (let page = 0; page < 100_000 && !room.removed; page++) {
      const from = room.nextIndex;
      const resp = this.expectAck(
        await this.request(Opcode.SYNC_REQUEST, room.roomId, room.epoch, { from, limit }),
      );
      const p = payloadOf(resp);
      const head = fieldU64(p, "head");
      const entries = fieldArray(p, "entries");
      await this.#run(async () => {
        for (const e of entries) {
          const entry = e as Record<string, unknown>;
          const payload = entry.payload;
          let f: WireFrame;
          try {
            f = parseEntry(
              fieldBytes(entry, "header"),
              payload instanceof Uint8Array ? payload : null,
            );
          } catch {
            continue;
          }
          if (
            f.roomId === room.roomId &&
            f.logIndex >= room.nextIndex &&
            !room.ahead.has(f.logIndex)
          )
            room.ahead.set(f.logIndex, f);
        }
        await this.#drain(room);
      });
      if (room.nextIndex >= head) break;
      if (room.nextIndex === from) break; // the hub gave nothing usable: stop, retry later
    }
    room.synced = true;
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
      if ((f.flags & FrameFlag.RESPONSE) !== 0) {
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
    if (SEQUENCED.has(f.opcode)) {
      const room = this.#rooms.get(f.roomId);
      if (room === undefined || room.state === undefined || room.removed) return;
      if (f.logIndex < room.nextIndex || room.ahead.size >= MAX_AHEAD) return;
      room.ahead.set(f.logIndex, f);
      await this.#drain(room);
      return;
    }
    if (f.senderId !== 0n || !verifyFrame(f, this.#o.hubPublicKey)) return;
    const p = payloadOf(f);
    switch (f.opcode) {
      case Opcode.WELCOME:
        await this.#onWelcome(f, fieldBytes(p, "welcome"));
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

  async #onWelcome(f: WireFrame, welcome: Uint8Array): Promise<void> {
    const existing = this.#rooms.get(f.roomId);
    if (existing?.state !== undefined && !existing.removed) return; // a repeat
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

  /** Applies every contiguous frame from `nextIndex`; a gap triggers a sync. */
  async #drain(room: Room): Promise<void> {
    for (;;) {
      const f = room.ahead.get(room.nextIndex);
      if (f === undefined) break;
      room.ahead.delete(room.nextIndex);
      const changed = await applySequenced(this.#ctx, room, f);
      room.nextIndex = f.logIndex + 1n;
      await this.persist(room, changed);
      if (room.removed) {
        room.ahead.clear();
        return;
      }
    }
    for (const k of room.ahead.keys()) if (k < room.nextIndex) room.ahead.delete(k);
    if (room.ahead.size > 0) void this.syncRoom(room).catch(() => undefined);
  }

  /** @internal */
  memberSenderIds(room: Room): Set<bigint> {
    return room.state ? new Set(memberBySender(room.state).keys()) : new Set();
  }
}

export function hubError(f: WireFrame): HubError {
  try {
    const p = payloadOf(f);
    const expected = p.expected_epoch === undefined ? undefined : fieldU64(p, "expected_epoch");
    return new HubError(
      fieldNumber(p, "code"),
      fieldText(p, "name"),
      fieldText(p, "message"),
      expected,
    );
  } catch {
    return new HubError(0, "Malformed", "malformed ERROR payload");
  }
}
