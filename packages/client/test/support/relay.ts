/**
 * An honest in-memory hub for client tests: it orders frames per room (log_index from 0,
 * no gaps), lets the first commit of an epoch win and answers later ones `StaleEpoch`,
 * refuses commits that miss a pending proposal, keeps each epoch's GroupInfo, a key
 * package directory, sync pages and idempotent answers. It is not the server (the client
 * must not depend on it); it follows the same frame contracts (docs/contracts.md).
 * Delivery is asynchronous and FIFO per connection; a connection can be taken down.
 */
import {
  createDeviceSigner,
  type DeviceSigner,
  deriveSenderId,
  ErrorCode,
  Flag,
  HEADER_SIZE,
  Opcode,
  type ProtocolErrorCode,
  type Rng,
  signFrame,
  stampFrame,
} from "@kalandra/proto";
import { type CiphersuiteImpl, proposeExternal } from "ts-mls";
import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import { ratchetTreeFromExtension } from "ts-mls/groupInfo.js";
import type { HubConnection } from "../../src/client.js";
import { decodeGroupInfo, decodeMessage, encodeMessage } from "../../src/mls/group.js";
import {
  buildFrame,
  fieldArray,
  fieldBytes,
  fieldNumber,
  fieldText,
  fieldU64,
  parseFrame,
  payloadOf,
  type ReceivedFrame,
  verifyFrame,
} from "../../src/state/wire.js";
import { type BlobAnswer, RelayBlobs } from "./relayBlobs.js";

interface Pending {
  ref: string;
  removedLeaf?: number;
  proposer: bigint;
}

interface RelayRoom {
  log: Uint8Array[];
  epoch: bigint;
  groupInfo: Uint8Array;
  members: Map<bigint, { leaf: number; userId: string }>;
  pending: Pending[];
  subscribers: Set<RelayConnection>;
}

export interface RelayOptions {
  cs: CiphersuiteImpl;
  rng: Rng;
  /** Send sequenced frames back to their sender too (default true). */
  echo?: boolean;
  /** Ask a member to commit as soon as a proposal is sequenced (default true). */
  autoCommitRequest?: boolean;
  /** KP_STATUS is sent when a device has fewer packages left than this (default 2). */
  kpLowWater?: number;
  /** A member that was asked to commit and did not within this many ms is replaced (default 150). */
  recommitMs?: number;
}

export class RelayConnection implements HubConnection {
  up = true;
  senderId: bigint | undefined;
  userId: string | undefined;
  deviceKey: Uint8Array | undefined;
  nonce: Uint8Array | undefined;
  #cb: ((f: Uint8Array) => void) | undefined;
  /** Frames the relay delivered while the connection was up (for assertions). */
  delivered = 0;
  /** Probability in [0, 1) that a frame is lost, each way (seeded, see `lossRng`). */
  loss = 0;
  dropped = 0;

  constructor(
    readonly relay: Relay,
    private readonly lossRng?: Rng,
  ) {}

  #lost(): boolean {
    if (this.loss <= 0 || this.lossRng === undefined) return false;
    const b = this.lossRng.bytes(2);
    const lost = ((b[0] ?? 0) * 256 + (b[1] ?? 0)) / 65536 < this.loss;
    if (lost) this.dropped++;
    return lost;
  }

  send(frame: Uint8Array): void {
    if (!this.up || this.#lost()) return;
    const copy = frame.slice();
    setImmediate(() => {
      if (this.up) this.relay.receive(this, copy);
    });
  }

  onFrame(cb: (frame: Uint8Array) => void): void {
    this.#cb = cb;
  }

  close(): void {
    this.up = false;
  }

  deliver(frame: Uint8Array): void {
    if (!this.up || this.#lost()) return;
    setImmediate(() => {
      if (this.up && this.#cb) {
        this.delivered++;
        this.#cb(frame);
      }
    });
  }
}

export class Relay {
  readonly hub: DeviceSigner;
  readonly #hubSeed: Uint8Array;
  readonly #o: Required<RelayOptions>;
  readonly rooms = new Map<bigint, RelayRoom>();
  readonly #devices = new Map<bigint, RelayConnection>();
  readonly #kps = new Map<string, Map<bigint, Uint8Array[]>>();
  readonly #answers = new Map<string, Uint8Array>();
  /** Welcomes per device until acknowledged (the hub's Welcome inbox). */
  readonly #welcomes = new Map<bigint, Uint8Array[]>();
  readonly #lastResort = new Map<bigint, Uint8Array>();
  /** Attachments: uploads, complete blobs and the rooms referencing them. */
  readonly blobs = new RelayBlobs();
  #hlc = 0n;
  #queue: Promise<void> = Promise.resolve();
  /** Acknowledged Welcomes stay (tests look at the list before an acknowledgement). */
  holdWelcomes = false;
  /** Every Welcome the relay sent, in order (tests push one again to see a repeat handled). */
  readonly welcomesSent: Uint8Array[] = [];
  /**
   * Test hook: a refusal (a federation routing refusal such as TRANSFERRING, with its
   * retry hint) for a room request, or undefined to handle it. Nothing is sequenced.
   */
  refuseRoomRequest:
    | ((f: ReceivedFrame) => { name: ProtocolErrorCode; retryAfterMs?: bigint } | undefined)
    | undefined;
  /**
   * Test hook: entries from this log index on are sequenced (the room's epoch moves) but
   * neither served in sync pages nor fanned out until `release()`, as a federated hub in
   * "majority" mode holds them until a majority of hubs persisted them.
   */
  holdFrom: number | undefined;
  readonly #held: { frame: Uint8Array; to: RelayConnection[] }[] = [];
  /** Test hook called right after a frame is sequenced, before any answer goes out. */
  afterSequence: ((roomId: bigint, frame: ReceivedFrame) => void) | undefined;
  /** Counters for assertions. */
  readonly stats = {
    stale: 0,
    missingProposals: 0,
    commits: 0,
    commitRequests: 0,
    welcomeAcks: 0,
    lastResortUploads: 0,
  };

  constructor(o: RelayOptions) {
    this.#o = { echo: true, autoCommitRequest: true, kpLowWater: 2, recommitMs: 150, ...o };
    this.#hubSeed = o.rng.bytes(32);
    this.hub = createDeviceSigner(this.#hubSeed);
  }

  get hubPublicKey(): Uint8Array {
    return this.hub.publicKey;
  }

  /** Claims every one-shot key package of `userId` (a drain, as an attacker would). */
  drain(userId: string): number {
    let n = 0;
    for (const list of this.#kps.get(userId)?.values() ?? []) n += list.splice(0).length;
    return n;
  }

  connect(lossRng?: Rng): RelayConnection {
    return new RelayConnection(this, lossRng);
  }

  #respond(
    conn: RelayConnection,
    req: ReceivedFrame,
    opcode: number,
    payload: Record<string, unknown>,
    extra: { error?: boolean; logIndex?: bigint; epoch?: bigint } = {},
  ): Uint8Array {
    const flags = Flag.RESPONSE | (extra.error ? Flag.ERROR : 0);
    const f = buildFrame(
      {
        flags,
        opcode,
        requestId: req.header.requestId,
        roomId: req.header.roomId,
        senderId: 0n,
        epoch: extra.epoch ?? 0n,
        payload,
        logIndex: extra.logIndex ?? 0n,
        hlcTimestamp: extra.logIndex === undefined ? 0n : this.#hlc,
      },
      this.hub,
    );
    // Like kalandrad, refusals go unsigned (signature bytes zero).
    if (extra.error) f.fill(0, 64, 128);
    conn.deliver(f);
    return f;
  }

  #error(
    conn: RelayConnection,
    req: ReceivedFrame,
    name: ProtocolErrorCode,
    message: string,
    expected?: bigint,
    retryAfterMs?: bigint,
  ): void {
    const payload: Record<string, unknown> = { code: ErrorCode[name], name, message };
    if (expected !== undefined) payload.expected_epoch = expected;
    if (retryAfterMs !== undefined) payload.retry_after_ms = retryAfterMs;
    if (name === "STALE_EPOCH") this.stats.stale++;
    if (name === "MISSING_PROPOSALS") this.stats.missingProposals++;
    this.#respond(conn, req, Opcode.ERROR, payload, { error: true });
  }

  #push(
    conn: RelayConnection | undefined,
    opcode: number,
    roomId: bigint,
    epoch: bigint,
    payload: Record<string, unknown>,
    logIndex = 0n,
  ): void {
    if (conn === undefined) return;
    conn.deliver(
      buildFrame(
        { opcode, requestId: 0, roomId, senderId: 0n, epoch, payload, logIndex },
        this.hub,
      ),
    );
  }

  /** Appends a frame to the room log (stamping it) and fans it out; returns its log_index. */
  #sequence(room: RelayRoom, frame: Uint8Array, sender: RelayConnection | undefined): bigint {
    const idx = BigInt(room.log.length);
    this.#hlc++;
    const stamped = stampFrame(frame, idx, this.#hlc);
    // The hub's own frames are signed over their whole header, position included (DESIGN §3).
    if (parseFrame(stamped).header.senderId === 0n) signFrame(stamped, this.hub);
    room.log.push(stamped);
    this.afterSequence?.(parseFrame(stamped).header.roomId, parseFrame(stamped));
    const to = [...room.subscribers].filter((s) => s !== sender || this.#o.echo);
    if (this.holdFrom !== undefined && idx >= BigInt(this.holdFrom)) {
      this.#held.push({ frame: stamped, to });
      return idx;
    }
    for (const s of to) s.deliver(stamped);
    return idx;
  }

  /** Ends `holdFrom`: the held entries are served and fanned out. */
  release(): void {
    this.holdFrom = undefined;
    for (const { frame, to } of this.#held.splice(0)) for (const s of to) s.deliver(frame);
  }

  #ack(conn: RelayConnection, req: ReceivedFrame, logIndex: bigint, epoch: bigint): void {
    const answer = this.#respond(conn, req, Opcode.ACK, {}, { logIndex, epoch });
    this.#answers.set(`${req.header.senderId}:${req.header.requestId}`, answer);
  }

  /** A blob request's answer (never remembered: these answers are states, not outcomes). */
  #blobAnswer(conn: RelayConnection, req: ReceivedFrame, a: BlobAnswer): void {
    if ("error" in a) this.#error(conn, req, a.error, a.message);
    else
      this.#respond(conn, req, a.data === true ? Opcode.BLOB_DATA : Opcode.BLOB_UPLOAD_STATE, a.ok);
  }

  receive(conn: RelayConnection, bytes: Uint8Array): void {
    let f: ReceivedFrame;
    try {
      f = parseFrame(bytes);
    } catch {
      return;
    }
    // One frame at a time, like a sequencer: no await inside a handler may let another
    // frame slip between its epoch check and its log append.
    this.#queue = this.#queue
      .then(() => this.#handle(conn, f))
      .catch((e: unknown) => {
        this.#error(conn, f, "INTERNAL", String(e));
      });
  }

  async #handle(conn: RelayConnection, f: ReceivedFrame): Promise<void> {
    const p = payloadOf(f);
    const repeat = this.#answers.get(`${f.header.senderId}:${f.header.requestId}`);
    if (f.header.opcode === Opcode.HELLO && repeat !== undefined) {
      conn.deliver(repeat);
      return;
    }
    if (f.header.opcode === Opcode.HELLO) {
      const key = fieldBytes(p, "device_key");
      if (deriveSenderId(key) !== f.header.senderId || !verifyFrame(f, key))
        return this.#error(conn, f, "UNAUTHENTICATED", "bad hello");
      conn.deviceKey = key;
      conn.userId = fieldText(p, "user_id");
      conn.nonce = this.#o.rng.bytes(32);
      const challenge = this.#respond(conn, f, Opcode.AUTH_CHALLENGE, {
        nonce: conn.nonce,
        hub_key: this.hub.publicKey,
      });
      this.#answers.set(`${f.header.senderId}:${f.header.requestId}`, challenge);
      return;
    }
    if (conn.deviceKey === undefined || !verifyFrame(f, conn.deviceKey))
      return this.#error(conn, f, "UNAUTHENTICATED", "unauthenticated");
    if (f.header.opcode === Opcode.AUTH_RESPONSE) {
      if (conn.nonce === undefined || Buffer.compare(fieldBytes(p, "nonce"), conn.nonce) !== 0)
        return this.#error(conn, f, "UNAUTHENTICATED", "nonce");
      conn.senderId = f.header.senderId;
      this.#devices.set(f.header.senderId, conn);
      this.#respond(conn, f, Opcode.AUTH_OK, {
        sender_id: f.header.senderId,
        user_id: conn.userId ?? "",
      });
      // The Welcome inbox: every Welcome waits until its device acknowledges it.
      for (const w of this.#welcomes.get(f.header.senderId) ?? []) conn.deliver(w);
      return;
    }
    if (conn.senderId !== f.header.senderId)
      return this.#error(conn, f, "UNAUTHENTICATED", "sender_id");
    const answered = this.#answers.get(`${f.header.senderId}:${f.header.requestId}`);
    if (answered !== undefined) {
      conn.deliver(answered);
      return;
    }
    switch (f.header.opcode) {
      case Opcode.KP_UPLOAD: {
        const byDevice = this.#kps.get(conn.userId ?? "") ?? new Map<bigint, Uint8Array[]>();
        this.#kps.set(conn.userId ?? "", byDevice);
        const list = byDevice.get(f.header.senderId) ?? [];
        const uploaded = fieldArray(p, "key_packages") as Uint8Array[];
        // One last-resort package per device, replaced by a new one, never used up.
        if (p.last_resort === true) {
          this.#lastResort.set(f.header.senderId, uploaded[0]!);
          this.stats.lastResortUploads++;
        } else list.push(...uploaded);
        byDevice.set(f.header.senderId, list);
        return this.#ack(conn, f, 0n, 0n);
      }
      case Opcode.KP_CLAIM: {
        const claims: { sender_id: bigint; key_package: Uint8Array }[] = [];
        for (const [sender, list] of this.#kps.get(fieldText(p, "user_id")) ?? []) {
          const kp = list.shift() ?? this.#lastResort.get(sender);
          if (kp !== undefined) claims.push({ sender_id: sender, key_package: kp });
          if (list.length < this.#o.kpLowWater)
            this.#push(this.#devices.get(sender), Opcode.KP_STATUS, 0n, 0n, {
              remaining: list.length,
            });
        }
        const answer = this.#respond(conn, f, Opcode.KP_CLAIMED, { claims });
        this.#answers.set(`${f.header.senderId}:${f.header.requestId}`, answer);
        return;
      }
      case Opcode.INVITES_LIST: {
        const invites = (this.#welcomes.get(f.header.senderId) ?? []).map((w) => {
          const h = parseFrame(w).header;
          const room = new Uint8Array(16);
          for (let i = 0; i < 16; i++) room[i] = Number((h.roomId >> BigInt(8 * (15 - i))) & 0xffn);
          return { room_id: room, epoch: h.epoch, log_index: h.logIndex, expires_at: 1n << 40n };
        });
        return void this.#respond(conn, f, Opcode.INVITES, { invites });
      }
      case Opcode.WELCOME_ACK: {
        if (this.holdWelcomes) return this.#ack(conn, f, 0n, 0n);
        const left = (this.#welcomes.get(f.header.senderId) ?? []).filter((w) => {
          const h = parseFrame(w).header;
          return !(h.roomId === f.header.roomId && h.logIndex === fieldU64(p, "log_index"));
        });
        this.#welcomes.set(f.header.senderId, left);
        this.stats.welcomeAcks++;
        return this.#ack(conn, f, 0n, 0n);
      }
      case Opcode.ROOM_CREATE: {
        if (this.rooms.has(f.header.roomId))
          return this.#error(conn, f, "ROOM_EXISTS", "room exists");
        const groupInfo = fieldBytes(p, "group_info");
        const room: RelayRoom = {
          log: [],
          epoch: 0n,
          groupInfo,
          members: membersOf(groupInfo),
          pending: [],
          subscribers: new Set([conn]),
        };
        this.rooms.set(f.header.roomId, room);
        return this.#ack(conn, f, this.#sequence(room, f.bytes, conn), 0n);
      }
    }
    const room = this.rooms.get(f.header.roomId);
    if (room === undefined) return this.#error(conn, f, "UNKNOWN_ROOM", "no such room");
    const refusal = this.refuseRoomRequest?.(f);
    if (refusal !== undefined) {
      return this.#error(
        conn,
        f,
        refusal.name,
        "refused by the test",
        undefined,
        refusal.retryAfterMs,
      );
    }
    switch (f.header.opcode) {
      case Opcode.PRESENCE:
      case Opcode.TYPING:
        // Ephemeral (DESIGN §3): relayed as sent to the other members, never sequenced;
        // the hub answers only a refusal.
        if (!room.members.has(f.header.senderId))
          return this.#error(conn, f, "NOT_MEMBER", "not a member");
        for (const s of room.subscribers)
          if (s !== conn && s.senderId !== undefined && room.members.has(s.senderId))
            s.deliver(f.bytes);
        return;
      case Opcode.GROUP_INFO_FETCH:
        this.#respond(conn, f, Opcode.GROUP_INFO, {
          epoch: room.epoch,
          group_info: room.groupInfo,
        });
        return;
      case Opcode.SYNC_REQUEST: {
        room.subscribers.add(conn);
        const from = Number(fieldU64(p, "from"));
        const limit = Math.max(1, Math.min(fieldNumber(p, "limit"), 1000));
        const served = Math.min(room.log.length, this.holdFrom ?? room.log.length);
        const slice = room.log.slice(from, Math.min(from + limit, served));
        const entries = slice.map((b) => ({
          header: b.subarray(0, HEADER_SIZE),
          payload: b.subarray(HEADER_SIZE),
        }));
        this.#respond(conn, f, Opcode.SYNC_PAGE, {
          entries,
          next: BigInt(from + slice.length),
          head: BigInt(served),
        });
        return;
      }
    }
    const member = room.members.has(f.header.senderId);
    switch (f.header.opcode) {
      case Opcode.BLOB_UPLOAD:
      case Opcode.BLOB_CHUNK:
        if (!member) return this.#error(conn, f, "NOT_MEMBER", "not a member");
        return this.#blobAnswer(
          conn,
          f,
          f.header.opcode === Opcode.BLOB_UPLOAD ? this.blobs.upload(p) : this.blobs.chunk(p),
        );
      case Opcode.BLOB_FETCH:
        return this.#blobAnswer(conn, f, this.blobs.fetch(f.header.roomId, member, p));
    }
    if (f.header.epoch !== room.epoch)
      return this.#error(conn, f, "STALE_EPOCH", `room is at ${room.epoch}`, room.epoch);
    switch (f.header.opcode) {
      case Opcode.APP_MESSAGE: {
        if (!member) return this.#error(conn, f, "NOT_MEMBER", "not a member");
        const refused = this.blobs.reference(
          f.header.roomId,
          (p.attachments as Uint8Array[] | undefined) ?? [],
        );
        if (refused !== undefined) return this.#blobAnswer(conn, f, refused);
        return this.#ack(conn, f, this.#sequence(room, f.bytes, conn), room.epoch);
      }
      case Opcode.PROPOSAL: {
        if (!room.members.has(f.header.senderId))
          return this.#error(conn, f, "NOT_MEMBER", "not a member");
        if (!(await this.#acceptProposal(room, f, fieldBytes(p, "message"))))
          return this.#error(conn, f, "INVALID_PROPOSAL", "that leaf's removal is already pending");
        this.#ack(conn, f, this.#sequence(room, f.bytes, conn), room.epoch);
        this.#requestCommit(f.header.roomId, room);
        return;
      }
      case Opcode.COMMIT:
      case Opcode.EXTERNAL_COMMIT: {
        const external = f.header.opcode === Opcode.EXTERNAL_COMMIT;
        if (!external && !room.members.has(f.header.senderId))
          return this.#error(conn, f, "NOT_MEMBER", "not a member");
        if (external && room.pending.some((x) => x.removedLeaf !== undefined))
          return this.#error(conn, f, "MUST_INCLUDE_PENDING_REMOVALS", "a removal is pending");
        const m = decodeMessage(fieldBytes(p, "commit"));
        if (
          m.wireformat !== "mls_public_message" ||
          m.publicMessage.content.contentType !== "commit"
        )
          return this.#error(conn, f, "INVALID_COMMIT", "commit is not a PublicMessage commit");
        const refs = new Set(
          m.publicMessage.content.commit.proposals.flatMap((x) =>
            x.proposalOrRefType === "reference" ? [Buffer.from(x.reference).toString("hex")] : [],
          ),
        );
        if (!external && room.pending.some((x) => !refs.has(x.ref)))
          return this.#error(conn, f, "MISSING_PROPOSALS", "commit misses pending proposals");
        const groupInfo = fieldBytes(p, "group_info");
        const gi = decodeGroupInfo(groupInfo);
        if (gi.groupContext.epoch !== room.epoch + 1n)
          return this.#error(conn, f, "INVALID_COMMIT", "GroupInfo epoch");
        const idx = this.#sequence(room, f.bytes, conn);
        room.epoch += 1n;
        room.groupInfo = groupInfo;
        room.members = membersOf(groupInfo);
        room.pending = [];
        this.stats.commits++;
        if (external) room.subscribers.add(conn);
        this.#ack(conn, f, idx, room.epoch - 1n);
        const welcome = p.welcome;
        if (welcome instanceof Uint8Array) {
          for (const r of Array.isArray(p.welcome_recipients) ? p.welcome_recipients : []) {
            const rid = BigInt(r as bigint);
            const w = buildFrame(
              {
                opcode: Opcode.WELCOME,
                requestId: 0,
                roomId: f.header.roomId,
                senderId: 0n,
                epoch: room.epoch,
                logIndex: idx,
                payload: { welcome, epoch: room.epoch },
              },
              this.hub,
            );
            const target = this.#devices.get(rid);
            this.#welcomes.set(rid, [...(this.#welcomes.get(rid) ?? []), w]);
            this.welcomesSent.push(w);
            if (target?.up) {
              room.subscribers.add(target);
              target.deliver(w);
            }
          }
        }
        return;
      }
      default:
        return this.#error(conn, f, "FORBIDDEN", `opcode ${f.header.opcode}`);
    }
  }

  /**
   * Records a proposal as pending; false when it removes a leaf a pending proposal already
   * removes (no commit could then cover both: RFC 9420 §12.2 forbids two removals of one
   * leaf in a commit, and the sequencer requires every pending proposal to be covered).
   */
  async #acceptProposal(room: RelayRoom, f: ReceivedFrame, message: Uint8Array): Promise<boolean> {
    const m = decodeMessage(message);
    if (m.wireformat !== "mls_public_message" || m.publicMessage.content.contentType !== "proposal")
      throw new Error("not a PublicMessage proposal");
    const ref = await makeProposalRef(
      {
        wireformat: "mls_public_message",
        content: m.publicMessage.content,
        auth: m.publicMessage.auth,
      },
      this.#o.cs.hash,
    );
    const prop = m.publicMessage.content.proposal;
    const pending: Pending = { ref: Buffer.from(ref).toString("hex"), proposer: f.header.senderId };
    if (prop.proposalType === "remove") {
      const leaf = prop.remove.removed;
      if (room.pending.some((x) => x.removedLeaf === leaf)) return false;
      pending.removedLeaf = leaf;
    }
    room.pending.push(pending);
    return true;
  }

  /**
   * Asks one live member to commit the pending proposals and, like the real sequencer
   * (DESIGN §4), asks the next one if the epoch has not moved after `recommitMs`.
   */
  #requestCommit(roomId: bigint, room: RelayRoom, round = 0): void {
    if (!this.#o.autoCommitRequest || room.pending.length === 0 || round > 200) return;
    const removed = new Set(
      room.pending.flatMap((x) => (x.removedLeaf === undefined ? [] : [x.removedLeaf])),
    );
    const candidates = [...room.members].filter(([sender, m]) => {
      const conn = this.#devices.get(sender);
      return !removed.has(m.leaf) && conn !== undefined && conn.up;
    });
    const pick = candidates[round % Math.max(1, candidates.length)];
    if (pick !== undefined) {
      this.stats.commitRequests++;
      this.#push(this.#devices.get(pick[0]), Opcode.COMMIT_REQUEST, roomId, room.epoch, {
        epoch: room.epoch,
        pending: room.pending.length,
        deadline_ms: this.#o.recommitMs,
      });
    }
    const epoch = room.epoch;
    const pending = room.pending.length;
    if (round === 0 || pick !== undefined) {
      setTimeout(() => {
        if (room.epoch === epoch && room.pending.length >= pending && room.pending.length > 0)
          this.#requestCommit(roomId, room, round + 1);
      }, this.#o.recommitMs);
    }
  }

  /** Moderation: the hub proposes removing every device of `userId` (DESIGN §6). */
  kick(roomId: bigint, userId: string): Promise<void> {
    const p = this.#queue.then(() => this.#kick(roomId, userId));
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #kick(roomId: bigint, userId: string): Promise<void> {
    const room = this.rooms.get(roomId);
    if (room === undefined) throw new Error("no room");
    for (const m of room.members.values()) {
      if (m.userId !== userId) continue;
      const msg = await proposeExternal(
        decodeGroupInfo(room.groupInfo),
        { proposalType: "remove", remove: { removed: m.leaf } },
        this.hub.publicKey,
        this.#hubSeed,
        this.#o.cs,
      );
      const message = encodeMessage(msg);
      const frame = buildFrame(
        {
          flags: Flag.EXTERNAL,
          opcode: Opcode.PROPOSAL,
          requestId: 0,
          roomId,
          senderId: 0n,
          epoch: room.epoch,
          payload: { message },
        },
        this.hub,
      );
      if (await this.#acceptProposal(room, parseFrame(frame), message))
        this.#sequence(room, frame, undefined);
    }
    this.#requestCommit(roomId, room);
  }

  /** Test hook: sequences arbitrary frame bytes in a room, as a faulty or hostile hub would. */
  inject(roomId: bigint, frame: Uint8Array): bigint {
    const room = this.rooms.get(roomId);
    if (room === undefined) throw new Error("no room");
    return this.#sequence(room, frame, undefined);
  }

  /**
   * Test hook: files every key package of `fromUser`'s devices under `toUser`, as a hostile
   * hub handing out ghost devices would (the real hub binds packages to their owner).
   */
  misfileKeyPackages(fromUser: string, toUser: string): void {
    const from = this.#kps.get(fromUser) ?? new Map<bigint, Uint8Array[]>();
    const to = this.#kps.get(toUser) ?? new Map<bigint, Uint8Array[]>();
    for (const [sender, list] of from) to.set(sender, list);
    this.#kps.set(toUser, to);
    this.#kps.delete(fromUser);
  }

  /** Key packages left in the directory for every device of `userId`. */
  keyPackageCount(userId: string): number {
    let n = 0;
    for (const list of this.#kps.get(userId)?.values() ?? []) n += list.length;
    return n;
  }

  /** The GroupInfo tree hash the hub holds for the room's current epoch. */
  treeHash(roomId: bigint): Uint8Array | undefined {
    const room = this.rooms.get(roomId);
    return room ? decodeGroupInfo(room.groupInfo).groupContext.treeHash : undefined;
  }
}

function membersOf(groupInfo: Uint8Array): Map<bigint, { leaf: number; userId: string }> {
  const tree = ratchetTreeFromExtension(decodeGroupInfo(groupInfo)) ?? [];
  const out = new Map<bigint, { leaf: number; userId: string }>();
  tree.forEach((n, i) => {
    if (n?.nodeType !== "leaf") return;
    const c = n.leaf.credential;
    out.set(deriveSenderId(n.leaf.signaturePublicKey), {
      leaf: i / 2,
      userId: c.credentialType === "basic" ? new TextDecoder().decode(c.identity) : "",
    });
  });
  return out;
}
