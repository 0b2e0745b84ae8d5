/**
 * `KalandraClient`: one device taking part in Kalandra rooms (DESIGN §7, docs/client.md).
 * It talks to the hub only through an injected `HubConnection`, with time, randomness,
 * timers and persistence injected too, so the same core runs over WebTransport and in the
 * simulation harness. This class is the facade; the jobs live in `state/`: the hub link
 * and its requests (`hubLink.ts`), the session over time (`hubSession.ts`, `handshake.ts`),
 * pushed frames (`push.ts`), the room sync (`sync.ts`), what the application asks for
 * (`intents.ts`), the key package stock and erasure.
 *
 * Concurrency: every change to client state runs on one serial queue (`#run`). Responses
 * to requests bypass the queue (they only resolve promises), so a queued task may wait for
 * the hub; the room sync and the intents wait for the hub *outside* the queue.
 */
import {
  type Clock,
  type DeviceSigner,
  type KeepaliveOptions,
  Opcode,
  type Rng,
  type Timers,
} from "@kalandra/proto";
import type { CiphersuiteImpl } from "ts-mls";
import {
  type AttachmentMetadata,
  type AttachmentRef,
  type AttachmentSource,
  Attachments,
  referencedBlobs,
  type SentAttachment,
} from "./attachments/attachments.js";
import type { TransferOptions } from "./attachments/transfer.js";
import {
  createEnvelope,
  type EnvelopeContent,
  encodeEnvelope,
  type MessageEnvelope,
} from "./envelope/index.js";
import { members } from "./mls/group.js";
import { exportNotificationKeys } from "./notify/export.js";
import { senderKeysFor } from "./state/apply.js";
import type { ClientContext } from "./state/context.js";
import type { Device, OwnKeyPackage } from "./state/device.js";
import { eraseDevice } from "./state/erasure.js";
import { asError, ClientError, expectAck, HubError, hubError } from "./state/errors.js";
import { type ClientListener, Emitter } from "./state/events.js";
import type { HelloAuthProvider } from "./state/helloAuth.js";
import { DEFAULT_KEEPALIVE, type HubConnection, HubLink } from "./state/hubLink.js";
import { HubSession } from "./state/hubSession.js";
import { Intents, type RoomAccessOptions } from "./state/intents.js";
import { type Invitation, listInvitations } from "./state/invitations.js";
import { KeyPackageStock } from "./state/keyPackageStock.js";
import {
  loadKeyPackages,
  loadOrCreateDevice,
  loadRooms,
  persistRoom,
  RequestIds,
} from "./state/persistence.js";
import { type JoinRule, type RoomPolicyView, type RoomRole, roleIn } from "./state/policy.js";
import { PolicyIntents } from "./state/policyIntents.js";
import {
  DEFAULT_PRESENCE_OPTIONS,
  type MemberPresence,
  type MemberTyping,
  Presence,
  type PresenceOptions,
} from "./state/presence.js";
import { PushHandler } from "./state/push.js";
import { DEFAULT_REQUEST_POLICY, type RequestPolicy } from "./state/requests.js";
import { liveRoom, Room, type RoomPhase } from "./state/room.js";
import { RoomSync } from "./state/sync.js";
import type { ClientStore } from "./store.js";

export type {
  JoinRule,
  MemberPresence,
  MemberTyping,
  PresenceOptions,
  RoomAccessOptions,
  RoomPolicyView,
  RoomRole,
};
export { ClientError, type HubConnection, HubError, hubError, type Invitation };

/** Default lifetime of an invite: seven days. */
const INVITE_SECONDS = 7n * 24n * 3600n;

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
  /**
   * What HELLO presents to prove the user (DESIGN §10): an enrollment code or device link
   * for a new device, a token; nothing for a device the hub bound already, or in dev mode.
   */
  auth?: HelloAuthProvider;
  /** How long others' typing and presence signals hold (state/presence.ts). */
  presence?: Partial<PresenceOptions>;
  /**
   * Keep-alive (docs/client.md "Keep-alive"): a PING after `intervalMs` without a frame from
   * the hub, the hub declared dead after `timeoutMs` (the connection is dropped and
   * reconnected; an `error` event with code `hub_silent` tells the application). Defaults
   * 45 s and 120 s; 0 turns either off.
   */
  keepalive?: Partial<KeepaliveOptions>;
}

export interface RoomView {
  roomId: bigint;
  phase: RoomPhase;
  epoch: bigint;
  nextLogIndex: bigint;
  members: string[];
  treeHash: Uint8Array | undefined;
  /** Roles, join rule and invites as the log has them; undefined until known (`roomPolicy`). */
  policy: RoomPolicyView | undefined;
  /** This user's role, when the policy is known. */
  role: RoomRole | undefined;
}

/** One leaf of a room's tree: its index, the user its credential names, the device at it. */
export interface RoomLeaf {
  leaf: number;
  userId: string;
  senderId: bigint;
}

export class KalandraClient {
  readonly #o: KalandraClientOptions;
  readonly #device: Device;
  readonly #events = new Emitter();
  readonly #rooms: Map<bigint, Room>;
  readonly #c: ClientContext;
  readonly #stock: KeyPackageStock;
  readonly #intents: Intents;
  readonly #policy: PolicyIntents;
  readonly #session: HubSession;
  readonly #presence: Presence;
  readonly #attachments: Attachments;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    o: KalandraClientOptions,
    device: Device,
    requestIds: RequestIds,
    keyPackages: Map<string, OwnKeyPackage>,
    rooms: Map<bigint, Room>,
  ) {
    this.#o = o;
    this.#device = device;
    this.#rooms = rooms;
    const link = new HubLink({
      connection: o.connection,
      clock: o.clock,
      timers: o.timers,
      keepalive: { ...DEFAULT_KEEPALIVE, ...o.keepalive },
      onHubSilent: (silentMs) =>
        this.#events.emit({
          type: "error",
          error: new ClientError("hub_silent", `no frame from the hub for ${silentMs} ms`),
        }),
      policy: { ...DEFAULT_REQUEST_POLICY, ...o.requestPolicy },
      rng: o.rng,
      requestIds,
      device,
      hubPublicKey: o.hubPublicKey,
      onPush: (f) => {
        if (this.#presence.receive(f)) return;
        void this.#run(() => push.handle(f)).catch((e: unknown) =>
          this.#events.emit({ type: "error", error: asError(e) }),
        );
      },
      onPostRefused: (f) => this.#events.emit({ type: "error", error: hubError(f) }),
    });
    this.#presence = new Presence({
      clock: o.clock,
      timers: o.timers,
      events: this.#events,
      rooms,
      post: (...a) => link.post(...a),
      ownSenderId: device.senderId,
      options: { ...DEFAULT_PRESENCE_OPTIONS, ...o.presence },
    });
    const apply = {
      cs: o.cs,
      hubPublicKey: o.hubPublicKey,
      ownSenderId: device.senderId,
      events: this.#events,
    };
    const persist = (room: Room, mls: boolean) => persistRoom(o.store, room, mls);
    const run = <T>(fn: () => Promise<T>) => this.#run(fn);
    const sync = new RoomSync({
      ctx: apply,
      run,
      request: async (opcode, roomId, epoch, payload) =>
        expectAck(await link.request(opcode, roomId, epoch, payload)),
      persist,
      onDiverged: (room) => push.diverged(room),
      pageSize: o.syncPageSize ?? 256,
    });
    this.#c = {
      apply,
      device,
      clock: o.clock,
      timers: o.timers,
      rng: o.rng,
      rooms,
      hub: link,
      sync,
      run,
      persist,
    };
    this.#stock = new KeyPackageStock(
      {
        device,
        clock: o.clock,
        cs: o.cs,
        store: o.store,
        hub: link,
        target: o.keyPackageTarget ?? 8,
      },
      keyPackages,
    );
    this.#intents = new Intents(this.#c);
    this.#attachments = new Attachments(this.#c, (roomId, content) => this.send(roomId, content));
    this.#policy = new PolicyIntents(this.#c);
    const push = new PushHandler(this.#c, sync, this.#intents, this.#stock);
    this.#session = new HubSession(
      {
        timers: o.timers,
        syncIntervalMs: o.syncIntervalMs ?? 0,
        transportAuthenticates: o.transportAuthenticates ?? false,
        ...(o.auth === undefined ? {} : { auth: o.auth }),
      },
      this.#c,
      link,
      this.#stock,
      this.#intents,
    );
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
    return this.#device.senderId;
  }

  get userId(): string {
    return this.#device.userId;
  }

  /** The device's frame signer (for a transport that authenticates the session itself). */
  get signer(): DeviceSigner {
    return this.#device.signer;
  }

  /** Subscribes to client events; returns the unsubscribe function. */
  on(listener: ClientListener): () => void {
    return this.#events.on(listener);
  }

  /** Authenticates, keeps the key package stock up, and resumes every room from its log_index. */
  connect(): Promise<void> {
    return this.#session.connect();
  }

  /** Marks the connection lost: nothing is sent and rooms fall back to Disconnected. */
  disconnect(): void {
    this.#session.disconnect();
  }

  /** Continues over a new connection: re-authenticates and syncs every room. */
  reconnect(connection: HubConnection): Promise<void> {
    return this.#session.reconnect(connection);
  }

  /** Stops timers and outstanding requests; persisted state stays in the store. */
  close(): void {
    this.#presence.close();
    this.#session.close();
    for (const r of this.#rooms.values()) r.dropKeys();
  }

  /** Erases every persisted byte and zeroes the secrets held in memory. */
  async erase(): Promise<void> {
    await this.#run(async () => {
      await eraseDevice(this.#o.store, this.#rooms, this.#device);
      this.#stock.erase();
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
      policy: r.policy,
      role: r.policy === undefined ? undefined : roleIn(r.policy, this.#device.userId),
    };
  }

  /**
   * The room's leaves as this device's MLS state holds them: the device (sender_id) at
   * each leaf and the user its credential names (DESIGN §10); undefined before it joined.
   */
  leaves(roomId: bigint): RoomLeaf[] | undefined {
    const state = this.#rooms.get(roomId)?.state;
    if (state === undefined) return undefined;
    return members(state).map(({ leaf, userId, senderId }) => ({ leaf, userId, senderId }));
  }

  rooms(): bigint[] {
    return [...this.#rooms.keys()];
  }

  /**
   * Creates a room with this device as its only member and this user as its owner;
   * resolves with its id. Invite-only unless `access.joinRule` is "open".
   *
   * @example
   * const room = await client.createRoom(undefined, { joinRule: "open", allowedDomains: ["example.org"] });
   */
  createRoom(roomId?: bigint, access?: RoomAccessOptions): Promise<bigint> {
    return this.#intents.createRoom(roomId, access);
  }

  /**
   * Invites a user (room admins): it may then fetch the GroupInfo and join by external
   * commit until `expiresAt` (seconds since the Unix epoch; default in seven days).
   * Resolves with the invite's log_index.
   */
  invite(roomId: bigint, userId: string, expiresAt?: bigint): Promise<bigint> {
    const until = expiresAt ?? this.#o.clock.now() / 1000n + INVITE_SECONDS;
    return this.#policy.change(roomId, { action: "invite", user_id: userId, expires_at: until });
  }

  /** Revokes a user's invite (room admins). */
  revokeInvite(roomId: bigint, userId: string): Promise<bigint> {
    return this.#policy.change(roomId, { action: "revoke", user_id: userId });
  }

  /** Sets a user's role (room admins; never above the caller's own). */
  setRole(roomId: bigint, userId: string, role: RoomRole): Promise<bigint> {
    return this.#policy.change(roomId, { action: "set_role", user_id: userId, role });
  }

  /** Sets the join rule (room admins): "invite", or "open" to users of `allowedDomains`. */
  setJoinRule(
    roomId: bigint,
    joinRule: JoinRule,
    allowedDomains: readonly string[] = [],
  ): Promise<bigint> {
    return this.#policy.change(roomId, {
      action: "set_join_rule",
      join_rule: joinRule,
      ...(allowedDomains.length === 0 ? {} : { allowed_domains: [...allowedDomains] }),
    });
  }

  /** Reads the room's policy from the hub (members only) and keeps it in the room view. */
  roomPolicy(roomId: bigint): Promise<RoomPolicyView> {
    return this.#policy.fetch(roomId);
  }

  /**
   * Redacts a message (room admins and owners, hub moderators; DESIGN §10): the hub erases
   * its content for good and sequences a REDACTION notice that every member sees as a
   * `redaction` event. Resolves with the notice's log_index; others get FORBIDDEN.
   */
  async redact(roomId: bigint, logIndex: bigint, reason = ""): Promise<bigint> {
    const room = liveRoom(this.#rooms, roomId);
    const payload = { log_index: logIndex, reason };
    const resp = expectAck(await this.#c.hub.request(Opcode.REDACT, roomId, room.epoch, payload));
    return resp.header.logIndex;
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
      await this.#c.persist(room, false);
    });
  }

  /**
   * "Rooms I was invited to": the Welcomes the hub still keeps for this device (issue 12).
   * They are delivered and joined on connect; one stays listed until this device
   * acknowledged it (after joining, or finding it of no use) or it expired.
   */
  invitations(): Promise<Invitation[]> {
    return listInvitations(this.#c.hub);
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
    if (message instanceof Uint8Array) return this.#intents.send(roomId, message);
    const envelope =
      "id" in message && "sent_at" in message
        ? message
        : createEnvelope(message, { clock: this.#o.clock, rng: this.#o.rng });
    return this.#intents.send(roomId, encodeEnvelope(envelope), referencedBlobs(envelope));
  }

  /**
   * Sends a file (docs/client.md "Attachments"): seals it under a fresh key, uploads it in
   * chunks (resuming after a reconnect or a hub restart), a thumbnail likewise as a second
   * small blob, then sends the attachment message referencing both. Resolves with the
   * message's log_index and its envelope content.
   *
   * @example
   * const { logIndex } = await client.sendAttachment(room, file, { mime: file.type, name: file.name },
   *   { onProgress: ({ loaded, total }) => bar.value = loaded / total });
   */
  sendAttachment(
    roomId: bigint,
    file: AttachmentSource,
    metadata: AttachmentMetadata,
    options?: TransferOptions,
  ): Promise<SentAttachment> {
    return this.#attachments.send(roomId, file, metadata, options);
  }

  /**
   * Fetches an attachment of a room this device is a member of, checks it against its
   * hash and opens it: `{ roomId, ...envelope }` of an attachment message, or
   * `{ roomId, ...envelope.thumb }` for its thumbnail.
   */
  fetchAttachment(ref: AttachmentRef, options?: TransferOptions): Promise<Uint8Array> {
    return this.#attachments.fetch(ref, options);
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

  /**
   * Announces this user's presence status ("online", "away", ... at most 64 UTF-8 bytes)
   * to every room it is in and keeps renewing it; `undefined` stops. Others see `presence`
   * events; nothing is stored by the hub.
   *
   * @example
   * client.setPresence("online");
   * client.on((e) => { if (e.type === "presence") show(e.userId, e.status ?? "gone"); });
   */
  setPresence(status: string | undefined): void {
    this.#presence.setPresence(status);
  }

  /**
   * Signals typing in a room (call it on every keystroke: renewals are spaced), or that it
   * stopped. Others see `typing` events, which also end on their own when not renewed.
   */
  setTyping(roomId: bigint, typing: boolean): void {
    this.#presence.setTyping(roomId, typing);
  }

  /** The room's other members whose presence status holds now, and who is typing. */
  presence(roomId: bigint): { present: MemberPresence[]; typing: MemberTyping[] } {
    return { present: this.#presence.presence(roomId), typing: this.#presence.typing(roomId) };
  }

  /** Commits whatever proposals are pending (what a COMMIT_REQUEST asks for). */
  commitPending(roomId: bigint): Promise<void> {
    return this.#intents.commitPending(roomId);
  }

  /** Generates `count` key packages, keeps their private keys, uploads them (KP_UPLOAD). */
  uploadKeyPackages(count: number): Promise<void> {
    return this.#stock.upload(count);
  }

  #run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}
