// Kept whole at ~450 lines: the one place that applies verdicts to a room's state; its rules,
// access judgments, policy, pipeline and queries already live in their own modules.
/**
 * One room's sequencer (DESIGN §4): the single place that decides what enters the room's
 * log. Every decision is taken synchronously against the in-memory room state, so two
 * requests are never judged against the same epoch twice: the first valid commit at
 * epoch E moves the room to E+1 before the next request is looked at.
 *
 * Its jobs live beside it: the rules that judge a request (rules.ts, pure), the commit
 * pipeline that stamps, stores, acknowledges and fans out an accepted frame
 * (commitPipeline.ts), the reads (queries.ts), and how a room starts (lifecycle.ts). This
 * class holds the room state and applies verdicts to it.
 *
 * Inputs are frames whose signature the hub core already verified (hub/hubCore.ts);
 * effects are pushed to the injected sink. No I/O, no wall clock, no timers of its own.
 */
import {
  decodePayload,
  encodePayload,
  errorFrame,
  Flag,
  hubFrame,
  isIdempotent,
  isSequenced,
  Opcode,
  responseFrame,
} from "@kalandra/proto";
import type { BanPolicy } from "../vocabulary/bans.js";
import { type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";
import type { Target } from "../vocabulary/target.js";
import {
  isMemberUser,
  joinedUsers,
  judgeCommitRemovals,
  judgeExternalJoiner,
  judgeJoinAccess,
  judgeRemovalProposal,
  noAccess,
} from "./access.js";
import { attachmentRefs, judgeAttachments } from "./attachmentRefs.js";
import { CommitPipeline, type SequenceOptions } from "./commitPipeline.js";
import { CommitScheduler } from "./commitScheduler.js";
import type { SequencerEnv } from "./env.js";
import type { GroupMember, GroupView } from "./groupView.js";
import { createRoom, type RoomStart, restoreRoom } from "./lifecycle.js";
import { groupInfoOf, syncPage } from "./queries.js";
import { replicaPeers } from "./replicaPeers.js";
import {
  changePolicy,
  consumeInvites,
  type PolicyChange,
  policyPayload,
  type RoomPolicy,
} from "./roomPolicy.js";
import type { PendingProposal, RoomState } from "./roomState.js";
import {
  checkEntrySize,
  checkMember,
  commitCandidates,
  isRefusal,
  judgeAppMessage,
  judgeCommit,
  judgeExternalCommit,
  judgeHubExtensions,
  judgeHubRemoval,
  judgeProposal,
  judgeSync,
  type ProposalVerdict,
  type RoomFacts,
  removalPending,
} from "./rules.js";
import { buildFrame, type ParsedFrame, ProtocolError, parseFrame } from "./wire.js";

/** A verified request handed to the sequencer by the hub core. */
export interface Request {
  frame: ParsedFrame;
  /** Where the response goes; absent for hub-originated frames. */
  reply?: Target;
  /** The sender's credential user id (user index, DESIGN §5). */
  userId?: string;
  /** The session's authenticated device key (external joiners are checked against it). */
  deviceKey?: Uint8Array;
  /**
   * Federation: why the room took no write when the hub thread routed the request (worker
   * shards cannot ask the federation core at decision time; shardCore.ts FrameMessage).
   */
  writeRefusal?: Refusal;
}

export class RoomSequencer implements RoomFacts {
  readonly roomId: bigint;
  private state: RoomState;
  #group: GroupView;
  private memberIds: bigint[] = [];
  private readonly pipeline: CommitPipeline;
  private readonly scheduler: CommitScheduler;
  private hubRequestId = 0;
  /** Set when the room is deleted (shards/roomAdmin.ts): nothing more is sequenced. */
  private retired = false;
  /** Federation only: the user of every device that was a member (replicaPeers.ts). */
  private readonly userOf = new Map<bigint, string>();

  private constructor(
    private readonly env: SequencerEnv,
    start: RoomStart,
  ) {
    this.roomId = start.roomId;
    this.state = start.state;
    this.#group = start.group;
    this.pipeline = new CommitPipeline(env, start.roomId, start.next, start.state.hlc);
    this.refreshMembers();
    this.scheduler = new CommitScheduler(env.timers, env.limits, {
      candidates: () => commitCandidates(this.#group, this.state.pending, env.isLive),
      request: (senderId, epoch, pending, deadlineMs) =>
        env.sink(
          { kind: "device", senderId },
          hubFrame(env.hubSigner, Opcode.COMMIT_REQUEST, start.roomId, epoch, {
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
    const created = await createRoom(env, request.frame, deviceKey, request.userId);
    if (!created.ok) return created;
    const room = new RoomSequencer(env, created.start);
    const outcome = await room.sequence(request, { state: room.state, fanout: [] });
    return outcome.ok ? { ok: true, room } : { ok: false, refusal: outcome.refusal };
  }

  /** Restores a room exactly as its last durable frame left it (issue 3, restart). */
  static restore(env: SequencerEnv, roomId: bigint): RoomSequencer {
    const start = restoreRoom(env, roomId);
    const room = new RoomSequencer(env, start);
    if (start.lastHlc !== undefined) room.pipeline.observe(start.lastHlc);
    room.scheduler.update(start.state.epoch, start.state.pending.length);
    return room;
  }

  get epoch(): bigint {
    return this.state.epoch;
  }
  /** Next log_index to assign (accepted, not necessarily durable yet). */
  get nextIndex(): bigint {
    return this.pipeline.nextIndex;
  }
  get pending(): readonly PendingProposal[] {
    return this.state.pending;
  }
  get removalPending(): boolean {
    return removalPending(this.state.pending);
  }
  get groupInfo(): Uint8Array {
    return this.state.groupInfo;
  }
  get treeHash(): Uint8Array {
    return this.#group.treeHash;
  }
  /** The public view of the group at the current epoch (rules.ts judges against it). */
  get group(): GroupView {
    return this.#group;
  }
  get maxMembers(): number {
    return this.env.limits.maxMembersPerRoom;
  }
  get bans(): BanPolicy | undefined {
    return this.env.bans;
  }
  /** Roles, join rule and invites (roomPolicy.ts; access.ts judges with them). */
  get policy(): RoomPolicy {
    return this.state.policy;
  }
  /** True when one of the user's devices holds a leaf here. */
  hasMemberUser(userId: string): boolean {
    return isMemberUser(this.#group, userId);
  }
  /** Leaf signature key of a member (the frame-signing device key, docs/contracts.md). */
  member(senderId: bigint): GroupMember | undefined {
    return this.#group.memberBySenderId(senderId);
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
    if (this.pipeline.failed !== undefined) {
      return this.answer(request, refuse("INTERNAL", "room storage failed; restart the hub"));
    }
    // Before anything is decided: a decision changes the room's state in memory.
    const elsewhere = isSequenced(h.opcode)
      ? (request.writeRefusal ?? this.elsewhere())
      : undefined;
    if (elsewhere !== undefined) return this.answer(request, elsewhere);
    if (isIdempotent(h.opcode)) {
      // Idempotency (DESIGN §4): the first answer, never sequenced twice.
      const earlier = this.pipeline.earlier(h.senderId, h.requestId);
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
    const elsewhere = this.elsewhere();
    if (elsewhere !== undefined) return { ok: false, refusal: elsewhere };
    const frame = this.hubOwnFrame(Opcode.PROPOSAL, { message: proposal });
    const verdict = judgeHubRemoval(this, proposal, leaf);
    if (isRefusal(verdict)) return { ok: false, refusal: verdict };
    return this.acceptProposal({ frame: parseFrame(frame) }, proposal, verdict);
  }

  /**
   * The hub's GroupContextExtensions proposal enlisting other hubs as external senders
   * (mls/hubSenders.ts), so whichever hub sequences the room later can kick; pending like
   * a kick's removal until a member commits it.
   */
  async proposeExtensions(proposal: Uint8Array): Promise<Outcome> {
    const elsewhere = this.elsewhere();
    if (elsewhere !== undefined) return { ok: false, refusal: elsewhere };
    const frame = this.hubOwnFrame(Opcode.PROPOSAL, { message: proposal });
    const verdict = judgeHubExtensions(this, proposal);
    if (isRefusal(verdict)) return { ok: false, refusal: verdict };
    return this.acceptProposal({ frame: parseFrame(frame) }, proposal, verdict);
  }

  /**
   * Sequences a notice the hub itself originates (moderation: REDACTION after an erasure,
   * later KICK/BAN notices), signed by the hub with sender_id 0 and the EXTERNAL flag, and
   * fans it out to every member. Unlike member frames it needs no membership or epoch check.
   */
  async sequenceNotice(opcode: Opcode, payload: unknown): Promise<Outcome> {
    const elsewhere = this.elsewhere();
    if (elsewhere !== undefined) return { ok: false, refusal: elsewhere };
    const frame = this.hubOwnFrame(opcode, payload);
    return this.sequence({ frame: parseFrame(frame) }, { fanout: this.memberIds });
  }

  /**
   * A kick takes the user's invite and role (DESIGN §10): the hub sequences a ROOM_POLICY
   * "expel" so every member's view of the policy follows. Nothing is written when the user
   * had neither.
   */
  async expel(userId: string): Promise<Outcome | undefined> {
    const elsewhere = this.elsewhere();
    if (elsewhere !== undefined) return { ok: false, refusal: elsewhere };
    const change: PolicyChange = { action: "expel", user_id: userId };
    const next = changePolicy(this.state.policy, { kind: "hub" }, change, this.nowSeconds());
    if (isRefusal(next)) return { ok: false, refusal: next };
    if (next === this.state.policy) return undefined;
    this.state.policy = next;
    const frame = this.hubOwnFrame(Opcode.ROOM_POLICY, change);
    return this.sequence(
      { frame: parseFrame(frame) },
      { state: this.state, fanout: this.memberIds },
    );
  }

  /** Stops the room's timers. */
  close(): void {
    this.scheduler.cancel();
  }

  /**
   * The room is being deleted: from now on every request to sequence a frame is refused
   * (a kick or notice already under way included), and its timers stop.
   */
  retire(): void {
    this.retired = true;
    this.close();
  }

  private decide(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const payload = request.frame.payload;
    if (isSequenced(h.opcode)) {
      const tooLarge = checkEntrySize(payload.length, this.env.limits.maxPayload);
      if (tooLarge !== undefined) return tooLarge;
    }
    switch (h.opcode) {
      case Opcode.APP_MESSAGE: {
        const refused = judgeAppMessage(this, h, request.deviceKey);
        if (refused !== undefined) return refused;
        const blobRefs = attachmentRefs(payload);
        if (blobRefs === undefined)
          return this.sequence(request, { fanout: this.others(h.senderId) });
        if (!Array.isArray(blobRefs)) return blobRefs;
        const missing = judgeAttachments(this.env.storage.blobs, this.roomId, blobRefs);
        if (missing !== undefined) return missing;
        return this.sequence(request, { fanout: this.others(h.senderId), blobRefs });
      }
      case Opcode.PROPOSAL: {
        const { message } = decodePayload(Opcode.PROPOSAL, payload);
        const verdict = judgeProposal(this, h, message, request.deviceKey);
        if (isRefusal(verdict)) return verdict;
        const proposer = this.#group.memberBySenderId(h.senderId);
        const forbidden =
          proposer === undefined
            ? undefined
            : judgeRemovalProposal(this, proposer, verdict.removedLeaf);
        if (forbidden !== undefined) return forbidden;
        return this.acceptProposal(request, message, verdict);
      }
      case Opcode.COMMIT:
        return this.onCommit(request);
      case Opcode.EXTERNAL_COMMIT: {
        // Access first: an outsider learns nothing, not even the room's epoch.
        const outsider = judgeJoinAccess(this, request.userId, this.nowSeconds());
        if (outsider !== undefined) return outsider;
        const body = decodePayload(Opcode.EXTERNAL_COMMIT, payload);
        const verdict = judgeExternalCommit(this, h, body, request.deviceKey);
        if (isRefusal(verdict)) return verdict;
        const foreign = judgeExternalJoiner(this.#group, verdict.next, h.senderId, request.userId);
        if (foreign !== undefined) return foreign;
        const fanout = this.others(h.senderId);
        this.advance(verdict.next, body.group_info);
        return this.sequence(request, { state: this.state, fanout });
      }
      case Opcode.GROUP_INFO_FETCH: {
        const outsider = judgeJoinAccess(this, request.userId, this.nowSeconds());
        if (outsider !== undefined) return outsider;
        decodePayload(Opcode.GROUP_INFO_FETCH, payload);
        return this.reply(request, Opcode.GROUP_INFO, groupInfoOf(this.state));
      }
      case Opcode.ROOM_POLICY_FETCH: {
        if (checkMember(this, h.senderId, request.deviceKey) !== undefined) return noAccess();
        decodePayload(Opcode.ROOM_POLICY_FETCH, payload);
        return this.reply(request, Opcode.ROOM_POLICY_STATE, policyPayload(this.state.policy));
      }
      case Opcode.ROOM_POLICY:
        return this.onPolicy(request);
      case Opcode.SYNC_REQUEST: {
        const { from, limit } = decodePayload(Opcode.SYNC_REQUEST, payload);
        const refused = judgeSync(this, h, request.deviceKey);
        if (refused !== undefined) return refused;
        return this.reply(request, Opcode.SYNC_PAGE, syncPage(this.env, this.roomId, from, limit));
      }
      default:
        return refuse("FORBIDDEN", `opcode 0x${h.opcode.toString(16)} is not a room request`);
    }
  }

  private acceptProposal(
    request: Request,
    message: Uint8Array,
    verdict: ProposalVerdict,
  ): Promise<Outcome> {
    const h = request.frame.header;
    const p: PendingProposal = {
      ref: verdict.ref,
      kind: verdict.kind,
      message: new Uint8Array(message),
      proposer: h.senderId,
      logIndex: this.pipeline.nextIndex,
    };
    if (verdict.removedLeaf !== undefined) p.removedLeaf = verdict.removedLeaf;
    this.state.pending.push(p);
    return this.sequence(request, {
      state: this.state,
      fanout: this.others(h.senderId),
      after: () => this.scheduler.update(this.state.epoch, this.state.pending.length),
    });
  }

  /** A member's change of the room's policy (roomPolicy.ts decides who may make which). */
  private onPolicy(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    if (checkMember(this, h.senderId, request.deviceKey) !== undefined) return noAccess();
    const change = decodePayload(Opcode.ROOM_POLICY, request.frame.payload);
    // The member's leaf names its user (checked against the session's key above).
    const userId = this.#group.memberBySenderId(h.senderId)?.userId ?? "";
    const actor = { kind: "user", userId, isMember: true } as const;
    const next = changePolicy(this.state.policy, actor, change, this.nowSeconds());
    if (isRefusal(next)) return next;
    this.state.policy = next;
    return this.sequence(request, { state: this.state, fanout: this.others(h.senderId) });
  }

  private onCommit(request: Request): Refusal | Promise<Outcome> {
    const h = request.frame.header;
    const body = decodePayload(Opcode.COMMIT, request.frame.payload);
    const verdict = judgeCommit(this, h, body, request.deviceKey);
    if (isRefusal(verdict)) return verdict;
    const committer = this.#group.memberBySenderId(h.senderId);
    const forbidden =
      committer === undefined
        ? undefined
        : judgeCommitRemovals(this, committer, verdict.next, this.state.pending);
    if (forbidden !== undefined) return forbidden;
    const fanout = this.others(h.senderId);
    this.advance(verdict.next, body.group_info);
    const epoch = this.state.epoch;
    const welcome = body.welcome;
    return this.sequence(request, {
      state: this.state,
      fanout,
      after: (logIndex, hlc) => {
        if (welcome === undefined) return;
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
        for (const r of verdict.welcomeRecipients) {
          this.env.sink({ kind: "device", senderId: r }, frame);
        }
      },
    });
  }

  /** A commit was accepted: the room moves to the next epoch, old proposals are void. */
  private advance(next: GroupView, groupInfo: Uint8Array): void {
    this.state.policy = consumeInvites(this.state.policy, joinedUsers(this.#group, next));
    this.#group = next;
    this.state.epoch = next.epoch;
    this.state.group = next.encode();
    this.state.groupInfo = new Uint8Array(groupInfo);
    this.state.pending = [];
    this.refreshMembers();
    this.scheduler.update(this.state.epoch, 0);
  }

  /** Federation: the room is moving or sequenced by another hub (nothing is decided here). */
  private elsewhere(): Refusal | undefined {
    return this.env.federation?.writeRefusal?.(this.roomId);
  }

  private nowSeconds(): bigint {
    return this.env.clock.now() / 1000n;
  }

  private sequence(request: Request, opts: SequenceOptions): Promise<Outcome> {
    if (this.retired) {
      return Promise.resolve(this.answer(request, refuse("UNKNOWN_ROOM", "the room was deleted")));
    }
    const fed = this.env.federation;
    if (fed !== undefined) {
      const sender = request.frame.header.senderId;
      const users = this.userOf;
      opts = {
        ...opts,
        replicas: replicaPeers(fed.domain, this.memberIds, opts.fanout, sender, users),
      };
    }
    return this.pipeline.sequence(request.frame, request.reply, request.userId, opts);
  }

  /** A frame the hub originates in this room: sender_id 0, EXTERNAL, its own request ids. */
  private hubOwnFrame(opcode: Opcode, payload: unknown): Uint8Array {
    return hubFrame(
      this.env.hubSigner,
      opcode,
      this.roomId,
      this.state.epoch,
      payload,
      Flag.EXTERNAL,
      ++this.hubRequestId,
    );
  }

  private reply(request: Request, opcode: Opcode, payload: unknown): Promise<Outcome> {
    if (request.reply !== undefined) {
      const frame = responseFrame(this.env.hubSigner, request.frame.header, opcode, payload, {
        logIndex: 0n,
        hlcTimestamp: 0n,
        epoch: this.state.epoch,
      });
      this.env.sink(request.reply, frame);
    }
    return Promise.resolve({ ok: true });
  }

  private answer(request: Request, refusal: Refusal): Outcome {
    if (request.reply !== undefined) {
      this.env.sink(request.reply, errorFrame(request.frame.header, refusal));
    }
    return { ok: false, refusal };
  }

  private refreshMembers(): void {
    const members = this.#group.members();
    this.memberIds = members.map((m) => m.senderId);
    // Federation routes by each device's user (removed ones too: they get their removal).
    if (this.env.federation !== undefined)
      for (const m of members) this.userOf.set(m.senderId, m.userId);
  }

  private others(senderId: bigint): bigint[] {
    return this.memberIds.filter((s) => s !== senderId);
  }
}
