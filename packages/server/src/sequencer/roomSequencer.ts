/**
 * One room's sequencer (DESIGN §4): the single place that decides what enters the room's
 * log. Every decision is taken synchronously against the in-memory room state, so two
 * requests are never judged against the same epoch twice: the first valid commit at
 * epoch E moves the room to E+1 before the next request is looked at. Accepted frames get
 * the next `log_index` and an HLC stamp, go to the shard's AppendBatcher, and are
 * acknowledged and fanned out only after their batch is durable (DESIGN §5).
 *
 * Inputs are frames whose signature the hub core already verified (hub/hubCore.ts);
 * effects are pushed to the injected sink. No I/O, no wall clock, no timers of its own.
 */
import { bytesEqual, canary, decodePayload, encodePayload, Flag, Opcode } from "@kalandra/proto";
import { HybridLogicalClock } from "../hlc.js";
import type { AppendEntry } from "../storage/types.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Target } from "../vocabulary/target.js";
import { CommitScheduler } from "./commitScheduler.js";
import { ackFrame, errorFrame, hubFrame, responseFrame } from "./effects.js";
import type { SequencerEnv } from "./env.js";
import { signFrameInPlace } from "./frameSigner.js";
import type { CheckFailure, GroupMember, GroupView } from "./groupView.js";
import { Idempotency } from "./idempotency.js";
import {
  decodeRoomState,
  encodeRoomState,
  type PendingProposal,
  type RoomState,
} from "./roomState.js";
import {
  buildFrame,
  ErrorCode,
  type ErrorName,
  type ParsedFrame,
  ProtocolError,
  parseFrame,
  readHlc,
  stampFrame,
} from "./wire.js";

/** A verified request handed to the sequencer by the hub core. */
export interface Request {
  frame: ParsedFrame;
  /** Where the response goes; absent for hub-originated frames. */
  reply?: Target;
  /** The sender's credential user id (user index, DESIGN §5). */
  userId?: string;
  /** The session's authenticated device key (external joiners are checked against it). */
  deviceKey?: Uint8Array;
}

const SEQUENCED: ReadonlySet<number> = new Set([
  Opcode.PROPOSAL,
  Opcode.COMMIT,
  Opcode.EXTERNAL_COMMIT,
  Opcode.APP_MESSAGE,
]);

export class RoomSequencer {
  private next: bigint;
  private state: RoomState;
  private group: GroupView;
  private memberIds: bigint[] = [];
  private readonly hlc: HybridLogicalClock;
  private readonly idempotency: Idempotency;
  private readonly scheduler: CommitScheduler;
  private failed: unknown;
  private hubRequestId = 0;

  private constructor(
    private readonly env: SequencerEnv,
    readonly roomId: bigint,
    state: RoomState,
    group: GroupView,
    next: bigint,
  ) {
    this.state = state;
    this.group = group;
    this.next = next;
    this.hlc = new HybridLogicalClock(env.clock, state.hlc);
    this.idempotency = new Idempotency(env.storage);
    this.refreshMembers();
    this.scheduler = new CommitScheduler(env.timers, env.limits, {
      candidates: () => this.commitCandidates(),
      request: (senderId, epoch, pending, deadlineMs) =>
        env.sink(
          { kind: "device", senderId },
          hubFrame(env.hubSigner, Opcode.COMMIT_REQUEST, roomId, epoch, {
            epoch,
            pending,
            deadline_ms: deadlineMs,
          }),
        ),
    });
  }

  /** A new room from its creator's epoch-0 GroupInfo; the creation frame is log index 0. */
  static async create(
    env: SequencerEnv,
    request: Request,
    deviceKey: Uint8Array,
  ): Promise<{ ok: true; room: RoomSequencer } | { ok: false; refusal: Refusal }> {
    const h = request.frame.header;
    const { group_info } = decodePayload(Opcode.ROOM_CREATE, request.frame.payload);
    let group: GroupView;
    try {
      group = env.groups.fromGroupInfo(group_info);
    } catch (e) {
      return { ok: false, refusal: refuse("INVALID_GROUP_INFO", String((e as Error).message)) };
    }
    if (group.epoch !== 0n) {
      return { ok: false, refusal: refuse("INVALID_GROUP_INFO", "a room starts at epoch 0") };
    }
    const creator = group.memberBySenderId(h.senderId);
    if (creator === undefined || !bytesEqual(creator.signatureKey, deviceKey)) {
      return { ok: false, refusal: refuse("NOT_MEMBER", "the creator must be the group's member") };
    }
    const state: RoomState = {
      epoch: 0n,
      group: group.encode(),
      groupInfo: new Uint8Array(group_info),
      pending: [],
      hlc: 0n,
    };
    await env.storage.putRoom(
      { roomId: h.roomId, createdAt: env.clock.now(), settings: {} },
      encodeRoomState(state),
    );
    const room = new RoomSequencer(env, h.roomId, state, group, env.storage.nextIndex(h.roomId));
    const outcome = await room.sequence(request, { stateChanged: true, fanout: [] });
    return outcome.ok ? { ok: true, room } : { ok: false, refusal: outcome.refusal };
  }

  /** Restores a room exactly as its last durable frame left it (issue 3, restart). */
  static restore(env: SequencerEnv, roomId: bigint): RoomSequencer {
    const bytes = env.storage.getRoomState(roomId);
    if (bytes === undefined) throw new ProtocolError("UNKNOWN_ROOM", `room ${roomId} has no state`);
    const state = decodeRoomState(bytes);
    const next = env.storage.nextIndex(roomId);
    const room = new RoomSequencer(env, roomId, state, env.groups.decode(state.group), next);
    // Frames that did not change room state (app messages) still advanced the clock.
    const last = next > 0n ? env.storage.readRange(roomId, next - 1n, 1)[0] : undefined;
    if (last !== undefined) room.hlc.observe(readHlc(last.header));
    room.scheduler.update(state.epoch, state.pending.length);
    return room;
  }

  get epoch(): bigint {
    return this.state.epoch;
  }
  /** Next log_index to assign (accepted, not necessarily durable yet). */
  get nextIndex(): bigint {
    return this.next;
  }
  get pending(): readonly PendingProposal[] {
    return this.state.pending;
  }
  get removalPending(): boolean {
    return this.state.pending.some((p) => p.removedLeaf !== undefined);
  }
  get groupInfo(): Uint8Array {
    return this.state.groupInfo;
  }
  get treeHash(): Uint8Array {
    return this.group.treeHash;
  }
  /** Leaf signature key of a member (the frame-signing device key, docs/contracts.md). */
  member(senderId: bigint): GroupMember | undefined {
    return this.group.memberBySenderId(senderId);
  }
  /** sender_ids of the current members. */
  members(): readonly bigint[] {
    return this.memberIds;
  }
  /** Members asked to commit in the current epoch. */
  get commitRequestsSent(): readonly bigint[] {
    return this.scheduler.asked;
  }

  /** Handles one verified request; resolves once it has been answered. */
  async handle(request: Request): Promise<Outcome> {
    const h = request.frame.header;
    if (this.failed !== undefined) {
      return this.answer(request, refuse("INTERNAL", "room storage failed; restart the hub"));
    }
    if (SEQUENCED.has(h.opcode)) {
      // Idempotency (DESIGN §4): the first answer, never sequenced twice.
      const earlier = this.idempotency.earlier(h.senderId, h.requestId);
      if (earlier !== undefined) {
        const bytes = await earlier;
        if (request.reply !== undefined) this.env.sink(request.reply, bytes);
        return { ok: true };
      }
    }
    let verdict: Refusal | Promise<Outcome>;
    try {
      verdict = this.decide(request);
    } catch (e) {
      if (e instanceof ProtocolError) verdict = refuse(e.code, e.message);
      else throw e;
    }
    return verdict instanceof Promise ? verdict : this.answer(request, verdict);
  }

  /**
   * Sequences a Remove proposal the hub made as the group's external sender (DESIGN §6,
   * moderation). From then on no application message and no commit without it is accepted.
   */
  async proposeRemoval(leaf: number, proposal: Uint8Array): Promise<Outcome> {
    const frame = hubFrame(
      this.env.hubSigner,
      Opcode.PROPOSAL,
      this.roomId,
      this.state.epoch,
      { message: proposal },
      Flag.EXTERNAL,
      ++this.hubRequestId,
    );
    const check = this.group.checkProposal(proposal);
    if (!check.ok) return { ok: false, refusal: this.fromCheck(check, "INVALID_PROPOSAL") };
    if (check.proposal.removedLeaf !== leaf) {
      return { ok: false, refusal: refuse("INVALID_PROPOSAL", "not a removal of that leaf") };
    }
    return this.acceptProposal(
      { frame: parseFrame(frame) },
      proposal,
      check.ref,
      check.proposal.type,
      leaf,
    );
  }

  /**
   * Sequences a notice the hub itself originates (moderation: REDACTION after an erasure,
   * later KICK/BAN notices), signed by the hub with sender_id 0 and the EXTERNAL flag, and
   * fans it out to every member. Unlike member frames it needs no membership or epoch check.
   */
  async sequenceNotice(opcode: Opcode, payload: unknown): Promise<Outcome> {
    const frame = hubFrame(
      this.env.hubSigner,
      opcode,
      this.roomId,
      this.state.epoch,
      payload,
      Flag.EXTERNAL,
      ++this.hubRequestId,
    );
    return this.sequence(
      { frame: parseFrame(frame) },
      { stateChanged: false, fanout: this.memberIds },
    );
  }

  /** Stops the room's timers. */
  close(): void {
    this.scheduler.cancel();
  }

  private decide(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    switch (h.opcode) {
      case Opcode.APP_MESSAGE:
        return this.onAppMessage(request);
      case Opcode.PROPOSAL:
        return this.onProposal(request);
      case Opcode.COMMIT:
        return this.onCommit(request);
      case Opcode.EXTERNAL_COMMIT:
        return this.onExternalCommit(request);
      case Opcode.GROUP_INFO_FETCH:
        decodePayload(Opcode.GROUP_INFO_FETCH, request.frame.payload);
        return this.reply(request, Opcode.GROUP_INFO, {
          epoch: this.state.epoch,
          group_info: this.state.groupInfo,
        });
      case Opcode.SYNC_REQUEST:
        return this.onSync(request);
      default:
        return refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not a room request`);
    }
  }

  private checkEpoch(h: ParsedFrame["header"]): Refusal | undefined {
    if (h.epoch === this.state.epoch) return undefined;
    const code: ErrorName = h.epoch < this.state.epoch ? "STALE_EPOCH" : "WRONG_EPOCH";
    return refuse(code, `room is at epoch ${this.state.epoch}`, this.state.epoch);
  }

  private onAppMessage(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    if (this.group.memberBySenderId(h.senderId) === undefined) {
      return refuse("NOT_MEMBER", "sender is not a member");
    }
    // canary: simulation-only planted bug (DESIGN §8), the epoch check dropped.
    const stale = canary("app_epoch_check") ? undefined : this.checkEpoch(h);
    if (stale !== undefined) return stale;
    if (this.removalPending) {
      return refuse("MUST_INCLUDE_PENDING_REMOVALS", "a removal is pending; wait for its commit");
    }
    return this.sequence(request, { stateChanged: false, fanout: this.others(h.senderId) });
  }

  private onProposal(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const { message } = decodePayload(Opcode.PROPOSAL, request.frame.payload);
    if (this.group.memberBySenderId(h.senderId) === undefined) {
      return refuse("NOT_MEMBER", "sender is not a member");
    }
    const stale = this.checkEpoch(h);
    if (stale !== undefined) return stale;
    const check = this.group.checkProposal(message);
    if (!check.ok) return this.fromCheck(check, "INVALID_PROPOSAL");
    if (check.proposal.type === "add" && this.env.bans !== undefined) {
      // No commit may add a banned user, so a pending Add of one would block the room.
      const user = check.proposal.addedUserId;
      if (user !== undefined && this.env.bans.isBanned(user, this.roomId)) {
        return refuse("BANNED", `${user} is banned from this room`);
      }
    }
    return this.acceptProposal(
      request,
      message,
      check.ref,
      check.proposal.type,
      check.proposal.removedLeaf,
    );
  }

  private acceptProposal(
    request: Request,
    message: Uint8Array,
    ref: Uint8Array,
    kind: string,
    removedLeaf: number | undefined,
  ): Promise<Outcome> {
    const h = request.frame.header;
    const p: PendingProposal = {
      ref,
      kind,
      message: new Uint8Array(message),
      proposer: h.senderId,
      logIndex: this.next,
    };
    if (removedLeaf !== undefined) p.removedLeaf = removedLeaf;
    this.state.pending.push(p);
    return this.sequence(request, {
      stateChanged: true,
      fanout: this.others(h.senderId),
      after: () => this.scheduler.update(this.state.epoch, this.state.pending.length),
    });
  }

  private onCommit(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const body = decodePayload(Opcode.COMMIT, request.frame.payload);
    if (this.group.memberBySenderId(h.senderId) === undefined) {
      return refuse("NOT_MEMBER", "sender is not a member");
    }
    const stale = this.checkEpoch(h);
    if (stale !== undefined) return stale;
    const refs = this.state.pending.map((p) => p.ref);
    const messages = this.state.pending.map((p) => p.message);
    const check = this.group.checkCommit(body.commit, body.group_info, refs, messages);
    if (!check.ok) return this.fromCheck(check, "INVALID_COMMIT");
    const banned = this.bannedAmong(check.addedMembers);
    if (banned !== undefined) return refuse("BANNED", `${banned} is banned from this room`);
    const fanout = this.others(h.senderId);
    const added = new Set(check.addedMembers.map((m) => m.senderId));
    const recipients = (body.welcome_recipients ?? []).filter((r) => added.has(r));
    this.advance(check.next, body.group_info);
    const epoch = this.state.epoch;
    const welcome = body.welcome;
    return this.sequence(request, {
      stateChanged: true,
      fanout,
      after: (logIndex, hlc) => {
        if (welcome !== undefined) {
          // The header carries the adding commit's place: the joiner applies from the
          // next index on (docs/client.md "Welcome").
          const frame = buildFrame(
            {
              flags: Flag.EXTERNAL,
              opcode: Opcode.WELCOME,
              roomId: this.roomId,
              epoch,
              logIndex,
              hlcTimestamp: hlc,
            },
            encodePayload(Opcode.WELCOME, { welcome, epoch }),
            this.env.hubSigner,
          );
          for (const r of recipients) this.env.sink({ kind: "device", senderId: r }, frame);
        }
      },
    });
  }

  private onExternalCommit(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const body = decodePayload(Opcode.EXTERNAL_COMMIT, request.frame.payload);
    const stale = this.checkEpoch(h);
    if (stale !== undefined) return stale;
    // A banned member can never survive in a forked group state (DESIGN §4, §6).
    if (this.removalPending && !canary("skip_pending_removal")) {
      return refuse("MUST_INCLUDE_PENDING_REMOVALS", "a removal is pending; join after it");
    }
    const check = this.group.checkExternalCommit(body.commit, body.group_info);
    if (!check.ok) return this.fromCheck(check, "INVALID_COMMIT");
    const joiner = check.addedMembers.find((m) => m.senderId === h.senderId);
    const key = request.deviceKey;
    if (joiner === undefined || (key !== undefined && !bytesEqual(joiner.signatureKey, key))) {
      return refuse("SENDER_MISMATCH", "the external commit does not add the sending device");
    }
    // A banned identity cannot come back by joining on its own (issue 8).
    if (this.bannedAmong([joiner]) !== undefined) return refuse("BANNED", "banned from this room");
    const fanout = this.others(h.senderId);
    this.advance(check.next, body.group_info);
    return this.sequence(request, { stateChanged: true, fanout });
  }

  private onSync(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const { from, limit } = decodePayload(Opcode.SYNC_REQUEST, request.frame.payload);
    if (this.group.memberBySenderId(h.senderId) === undefined) {
      return refuse("NOT_MEMBER", "only members read the room's log");
    }
    const head = this.env.storage.nextIndex(this.roomId);
    const max = Math.min(Math.max(limit, 1), this.env.limits.syncPageLimit);
    // Durable frames only (issue 11): LMDB readers see a batch once its transaction
    // commits, before its fsync; a frame past `head` may still vanish in a power loss and
    // its log_index be reused. canary: simulation-only planted bug (DESIGN §8), cap dropped.
    const durable = from < head ? Math.min(max, Number(head - from)) : 0;
    const frames = this.env.storage.readRange(
      this.roomId,
      from,
      canary("sync_past_head") ? max : durable,
    );
    if (canary("sync_drops_last")) frames.pop(); // simulation-only planted bug (DESIGN §8)
    const entries = frames.map((f) => ({ header: f.header, payload: f.payload }));
    const next = frames.length > 0 ? frames[frames.length - 1]!.logIndex + 1n : from;
    return this.reply(request, Opcode.SYNC_PAGE, { entries, next, head });
  }

  /** A commit was accepted: the room moves to the next epoch, old proposals are void. */
  private advance(next: GroupView, groupInfo: Uint8Array): void {
    this.group = next;
    this.state.epoch = next.epoch;
    this.state.group = next.encode();
    this.state.groupInfo = new Uint8Array(groupInfo);
    this.state.pending = [];
    this.refreshMembers();
    this.scheduler.update(this.state.epoch, 0);
  }

  private sequence(
    request: Request,
    opts: {
      stateChanged: boolean;
      fanout: readonly bigint[];
      after?: (logIndex: bigint, hlc: bigint) => void;
    },
  ): Promise<Outcome> {
    const h = request.frame.header;
    const logIndex = this.next++;
    const hlc = this.hlc.next();
    // canary: simulation-only planted bug (DESIGN §8), an off-by-one log_index past index 4.
    const off = canary("log_index_off_by_one") && logIndex > 4n ? 1n : 0n;
    const stamped = stampFrame(request.frame.bytes, logIndex + off, hlc);
    // Built unsigned; signed below, on the thread pool when the signer can (frameSigner.ts).
    const ack = ackFrame(h, logIndex, hlc);
    const entry: AppendEntry = {
      roomId: this.roomId,
      logIndex,
      header: stamped.subarray(0, 128),
      payload: stamped.subarray(128),
      senderId: h.senderId,
      requestId: h.requestId,
      response: ack,
    };
    if (request.userId !== undefined) entry.userId = request.userId;
    if (opts.stateChanged) {
      this.state.hlc = hlc;
      entry.roomState = encodeRoomState(this.state);
    }
    const finish = this.idempotency.begin(h.senderId, h.requestId);
    return new Promise((resolve) => {
      const ready = this.env.batcher.addPending(entry, (err) => {
        if (err !== undefined) {
          // Later frames of this room may depend on this one: stop accepting (DESIGN §5).
          this.failed = err;
          const fail = errorFrame(this.env.hubSigner, h, refuse("INTERNAL", "storage failed"));
          if (request.reply !== undefined) this.env.sink(request.reply, fail);
          finish(fail);
          resolve({ ok: false, refusal: refuse("INTERNAL", String(err)) });
          return;
        }
        if (request.reply !== undefined) this.env.sink(request.reply, ack);
        finish(ack);
        if (opts.fanout.length > 0) {
          this.env.sink({ kind: "members", roomId: this.roomId, senderIds: opts.fanout }, stamped);
        }
        opts.after?.(logIndex, hlc);
        resolve({ ok: true, logIndex });
      });
      // The batch carrying this frame is written only once its ACK is signed: the ACK is
      // also the frame's idempotency record, stored in the same transaction.
      signFrameInPlace(this.env.hubSigner, ack, ready);
    });
  }

  private reply(request: Request, opcode: Opcode, payload: unknown): Promise<Outcome> {
    if (request.reply !== undefined) {
      const frame = responseFrame(this.env.hubSigner, request.frame.header, opcode, payload, {
        logIndex: 0n,
        hlc: 0n,
        epoch: this.state.epoch,
      });
      this.env.sink(request.reply, frame);
    }
    return Promise.resolve({ ok: true });
  }

  private answer(request: Request, refusal: Refusal): Outcome {
    if (request.reply !== undefined) {
      this.env.sink(request.reply, errorFrame(this.env.hubSigner, request.frame.header, refusal));
    }
    return { ok: false, refusal };
  }

  private fromCheck(check: CheckFailure, fallback: ErrorName): Refusal {
    const code = Object.hasOwn(ErrorCode, check.code) ? (check.code as ErrorName) : fallback;
    const expected = code === "STALE_EPOCH" ? (check.expected ?? this.state.epoch) : check.expected;
    return refuse(code, check.message, expected);
  }

  /** The first added member whose user is banned here or hub-wide (moderation/bans.ts). */
  private bannedAmong(added: readonly GroupMember[]): string | undefined {
    const bans = this.env.bans;
    if (bans === undefined) return undefined;
    return added.find((m) => bans.isBanned(m.userId, this.roomId))?.userId;
  }

  private refreshMembers(): void {
    this.memberIds = this.group.members().map((m) => m.senderId);
  }

  private others(senderId: bigint): bigint[] {
    return this.memberIds.filter((s) => s !== senderId);
  }

  private commitCandidates(): bigint[] {
    const removed = new Set(this.state.pending.map((p) => p.removedLeaf));
    return this.group
      .members()
      .filter((m) => !removed.has(m.leaf) && this.env.isLive(m.senderId))
      .map((m) => m.senderId);
  }
}
