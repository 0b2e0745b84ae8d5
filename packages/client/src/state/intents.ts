/**
 * What the application asks for (create, add, remove, update, leave, join, send), carried
 * out against the sequencer (DESIGN §4, §7): each handshake is built from the current
 * state, its resulting state kept aside as an in-flight op, and adopted only when the
 * frame reaches the log. On `StaleEpoch` (another commit won the epoch) the op is dropped,
 * the room syncs from its last log_index, and the intent is rebuilt against the new epoch.
 */
import { canary, createdRoomPolicy, Flag, Opcode } from "@kalandra/proto";
import type { ClientState, KeyPackage } from "ts-mls";
import {
  type CommitOutput,
  commitWith,
  createRoomGroup,
  decodeMessage,
  groupInfoMessage,
  joinExternal,
  members,
  ownLeaf,
  proposeSelfRemove,
} from "../mls/group.js";
import { enterEpoch, memberBySender, senderKeysFor } from "./apply.js";
import type { ClientContext } from "./context.js";
import { generateKeyPackages } from "./device.js";
import { ClientError, expectAck, HubError, hubError } from "./errors.js";
import { claimMatches } from "./leafIdentity.js";
import type { JoinRule } from "./policy.js";
import { liveRoom, Room, signatureKey } from "./room.js";
import {
  fieldArray,
  fieldBytes,
  fieldU64,
  parseFrame,
  payloadOf,
  type ReceivedFrame,
} from "./wire.js";

/** Who may join a new room besides those its members add (docs/protocol.md "Room access"). */
export interface RoomAccessOptions {
  /** "invite" (the default): invited users only; "open": any user of `allowedDomains`. */
  joinRule?: JoinRule;
  /** For an open room: domains whose users may join; empty = every user of the hub. */
  allowedDomains?: readonly string[];
}

/** Hub error names after which the intent is rebuilt on the new epoch. */
const RETRYABLE = new Set(["STALE_EPOCH", "MISSING_PROPOSALS"]);
const MAX_ATTEMPTS = 8;
/** First wait for a commit the hub sequenced but does not serve yet; it doubles per attempt. */
const STALE_WAIT_MS = 100;
const STALE_WAIT_MAX_MS = 2000;

interface Built {
  opcode: number;
  payload: Record<string, unknown>;
  op: "commit" | "proposal" | "app";
  newState?: ClientState;
  plaintext?: Uint8Array;
}

export class Intents {
  readonly #c: ClientContext;

  constructor(context: ClientContext) {
    this.#c = context;
  }

  #room(roomId: bigint): Room {
    return liveRoom(this.#c.rooms, roomId);
  }

  /**
   * The retry loop shared by every sequenced intent. `build` runs on the client's queue
   * against the room's current state; returning undefined means nothing is left to do.
   * Resolves with the accepted frame's log_index (or undefined).
   */
  async #sequence(
    roomId: bigint,
    build: (room: Room) => Promise<Built | undefined>,
  ): Promise<bigint | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const room = this.#room(roomId);
      const prepared = await this.#c.run(async () => {
        if (room.removed || room.state === undefined)
          throw new ClientError("removed", "removed from the room");
        const b = await build(room);
        if (b === undefined) return undefined;
        const frame = this.#c.hub.frame(b.opcode, roomId, room.epoch, b.payload);
        const sig = signatureKey(parseFrame(frame));
        if (b.op === "commit" && b.newState) {
          room.inflight.set(sig, { kind: "commit", frame, newState: b.newState });
          // canary: simulation-only planted bug (DESIGN §8), adopting an own commit unacked.
          if (canary("own_commit_before_ack"))
            await enterEpoch(this.#c.apply, room, room.state, b.newState);
        } else if (b.op === "proposal")
          room.inflight.set(sig, {
            kind: "proposal",
            frame,
            message: fieldBytes(b.payload, "message"),
          });
        else
          room.inflight.set(sig, {
            kind: "app",
            frame,
            plaintext: b.plaintext ?? new Uint8Array(0),
          });
        await this.#c.persist(room, false);
        return { frame, sig };
      });
      if (prepared === undefined) return undefined;
      const resp = await this.#c.hub.send(prepared.frame);
      if ((resp.header.flags & Flag.ERROR) === 0) {
        await this.#c.run(() => this.#c.sync.acceptOwn(room, prepared.frame, resp));
        await this.#c.sync.waitApplied(room, resp.header.logIndex);
        return resp.header.logIndex;
      }
      const err = hubError(resp);
      await this.#c.run(async () => {
        room.inflight.delete(prepared.sig);
        await this.#c.persist(room, false);
      });
      if (!RETRYABLE.has(err.hubName)) throw err;
      await this.#c.sync.syncRoom(room);
      const expected = err.expectedEpoch;
      if (expected !== undefined && room.epoch < expected)
        await this.#awaitEpoch(room, expected, attempt);
    }
    throw new ClientError("retries_exhausted", `gave up after ${MAX_ATTEMPTS} attempts`);
  }

  /**
   * The hub named an epoch whose commit the sync did not bring: it sequenced the commit but
   * does not serve it yet (in "majority" mode, not before a majority of hubs persisted it,
   * docs/federation.md). Rebuilt now, the intent would be stale again and the attempts spent
   * in moments: wait for the commit (it comes live) a little longer at each attempt, up to
   * STALE_WAIT_MS << attempt (at most STALE_WAIT_MAX_MS), then go on (the next attempt syncs).
   */
  async #awaitEpoch(room: Room, epoch: bigint, attempt: number): Promise<void> {
    const until = Math.min(STALE_WAIT_MS * 2 ** attempt, STALE_WAIT_MAX_MS);
    for (let waited = 0; waited < until && room.epoch < epoch && !room.removed; waited += 10) {
      await new Promise<void>((resolve) => this.#c.timers.set(10, resolve));
    }
  }

  #commitPayload(out: CommitOutput, recipients?: bigint[]): Built {
    const payload: Record<string, unknown> = { commit: out.commit, group_info: out.groupInfo };
    if (out.welcome !== undefined) {
      payload.welcome = out.welcome;
      payload.welcome_recipients = recipients ?? [];
    }
    return { opcode: Opcode.COMMIT, payload, op: "commit", newState: out.newState };
  }

  async createRoom(roomId?: bigint, access: RoomAccessOptions = {}): Promise<bigint> {
    const { cs, hubPublicKey } = this.#c.apply;
    const id = roomId ?? randomRoomId(this.#c.rng.bytes(16));
    const [kp] = await generateKeyPackages(this.#c.device, 1, this.#c.clock, cs);
    if (kp === undefined) throw new ClientError("internal", "no key package");
    const state = await createRoomGroup(id, kp, hubPublicKey, cs);
    const groupInfo = await groupInfoMessage(state, cs);
    const joinRule = access.joinRule ?? "invite";
    const domains = access.allowedDomains ?? [];
    const resp = expectAck(
      await this.#c.hub.request(Opcode.ROOM_CREATE, id, 0n, {
        group_info: groupInfo,
        ...(access.joinRule === undefined ? {} : { join_rule: joinRule }),
        ...(domains.length === 0 ? {} : { allowed_domains: [...domains] }),
      }),
    );
    await this.#c.run(async () => {
      const room = new Room(id);
      room.policy = createdRoomPolicy(this.#c.device.userId, joinRule, domains);
      room.nextIndex = resp.header.logIndex + 1n;
      room.synced = true;
      this.#c.rooms.set(id, room);
      await enterEpoch(this.#c.apply, room, undefined, state);
      await this.#c.persist(room, true);
    });
    return id;
  }

  async addMembers(roomId: bigint, userIds: readonly string[]): Promise<void> {
    const claims: { senderId: bigint; keyPackage: KeyPackage }[] = [];
    for (const userId of userIds) {
      const resp = expectAck(
        await this.#c.hub.request(Opcode.KP_CLAIM, roomId, 0n, { user_id: userId }),
      );
      for (const c of fieldArray(payloadOf(resp), "claims")) {
        const claim = c as Record<string, unknown>;
        const m = decodeMessage(fieldBytes(claim, "key_package"));
        if (m.wireformat !== "mls_key_package") continue;
        const senderId = fieldU64(claim, "sender_id");
        // Only a device of the user asked for, under its own sender_id (DESIGN §10): a
        // package naming someone else, or another key, is never added.
        if (!claimMatches(m.keyPackage, userId, senderId)) continue;
        claims.push({ senderId, keyPackage: m.keyPackage });
      }
    }
    if (claims.length === 0)
      throw new ClientError("no_key_packages", `no key package for ${userIds.join(", ")}`);
    await this.#sequence(roomId, async (room) => {
      if (room.state === undefined) return undefined;
      const present = memberBySender(room.state);
      const todo = claims.filter((c) => !present.has(c.senderId));
      if (todo.length === 0) return undefined;
      assertCanCommit(room.state);
      const out = await commitWith(room.state, this.#c.apply.cs, {
        add: todo.map((c) => c.keyPackage),
      });
      return this.#commitPayload(
        out,
        todo.map((c) => c.senderId),
      );
    });
  }

  async removeMembers(roomId: bigint, userIds: readonly string[]): Promise<void> {
    const wanted = new Set(userIds);
    await this.#sequence(roomId, async (room) => {
      const state = room.state;
      if (state === undefined) return undefined;
      // Leaves a pending Remove proposal (e.g. the hub's) already targets are removed by
      // that proposal, committed by reference; naming them again is invalid (RFC 9420 §12.2).
      const pendingRemovals = new Set(
        Object.values(state.unappliedProposals).flatMap((p) =>
          p.proposal.proposalType === "remove" ? [p.proposal.remove.removed] : [],
        ),
      );
      const targets = members(state).filter(
        (m) => wanted.has(m.userId) && m.leaf !== ownLeaf(state),
      );
      if (targets.length === 0) return undefined;
      assertCanCommit(state);
      const leaves = targets.map((m) => m.leaf).filter((l) => !pendingRemovals.has(l));
      if (leaves.length === 0)
        return this.#commitPayload(await commitWith(state, this.#c.apply.cs));
      return this.#commitPayload(
        await commitWith(state, this.#c.apply.cs, { removeLeaves: leaves }),
      );
    });
  }

  async update(roomId: bigint): Promise<void> {
    await this.#sequence(roomId, async (room) => {
      if (room.state === undefined) return undefined;
      assertCanCommit(room.state);
      return this.#commitPayload(await commitWith(room.state, this.#c.apply.cs));
    });
  }

  /** Commits pending proposals; with `epoch`, only while the room is still at it. */
  async commitPending(roomId: bigint, epoch?: bigint, pending?: number): Promise<void> {
    const room = this.#c.rooms.get(roomId);
    if (room === undefined || room.state === undefined || room.removed) return;
    // Asked about proposals we have not seen (lost fan-out) or an epoch we have not
    // reached: catch up first, or nobody would commit them.
    const known = Object.keys(room.state.unappliedProposals).length;
    if ((epoch !== undefined && room.epoch < epoch) || (pending !== undefined && known < pending))
      await this.#c.sync.syncRoom(room);
    await this.#sequence(roomId, async (r) => {
      const state = r.state;
      if (state === undefined) return undefined;
      if (epoch !== undefined && state.groupContext.epoch < epoch) return undefined;
      const pending = Object.values(state.unappliedProposals);
      if (pending.length === 0) return undefined;
      // A member never commits its own removal (RFC 9420 §12.2): leave that to another.
      if (selfRemovalPending(state)) return undefined;
      return this.#commitPayload(await commitWith(state, this.#c.apply.cs));
    });
  }

  async leave(roomId: bigint): Promise<void> {
    try {
      await this.#sequence(roomId, async (room) => {
        if (room.state === undefined || selfRemovalPending(room.state)) return undefined;
        const { message } = await proposeSelfRemove(room.state, this.#c.apply.cs);
        return { opcode: Opcode.PROPOSAL, payload: { message }, op: "proposal" };
      });
    } catch (e) {
      // Refused because our removal is already pending (e.g. the hub's kick won the race):
      // what we asked for is happening.
      const room = this.#c.rooms.get(roomId);
      if (!(e instanceof HubError) || room === undefined) throw e;
      await this.#c.sync.syncRoom(room);
      if (room.removed || (room.state !== undefined && selfRemovalPending(room.state))) return;
      throw e;
    }
  }

  /**
   * Seals and sends an application message; `attachments` are the blob ids it references,
   * in the clear for the hub (docs/protocol.md "Attachments").
   */
  async send(
    roomId: bigint,
    plaintext: Uint8Array,
    attachments: readonly Uint8Array[] = [],
  ): Promise<bigint> {
    const idx = await this.#sequence(roomId, async (room) => {
      const keys = await senderKeysFor(room, this.#c.apply.cs);
      const sealed = keys.seal(plaintext);
      room.sentInEpoch = keys.sendGeneration;
      return {
        opcode: Opcode.APP_MESSAGE,
        payload: {
          generation: sealed.generation,
          ciphertext: sealed.ciphertext,
          ...(attachments.length === 0 ? {} : { attachments: [...attachments] }),
        },
        op: "app",
        plaintext: plaintext.slice(),
      };
    });
    if (idx === undefined) throw new ClientError("internal", "message not sent");
    return idx;
  }

  async joinExternal(roomId: bigint): Promise<void> {
    const cs = this.#c.apply.cs;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const gi = expectAck(await this.#c.hub.request(Opcode.GROUP_INFO_FETCH, roomId, 0n, {}));
      const p = payloadOf(gi);
      const epoch = fieldU64(p, "epoch");
      const [kp] = await generateKeyPackages(this.#c.device, 1, this.#c.clock, cs);
      if (kp === undefined) throw new ClientError("internal", "no key package");
      const out = await joinExternal(fieldBytes(p, "group_info"), kp, cs);
      const frame = this.#c.hub.frame(Opcode.EXTERNAL_COMMIT, roomId, epoch, {
        commit: out.commit,
        group_info: out.groupInfo,
      });
      const resp = await this.#c.hub.send(frame);
      if ((resp.header.flags & Flag.ERROR) !== 0) {
        const err: HubError = hubError(resp);
        if (err.hubName === "STALE_EPOCH" || err.hubName === "MUST_INCLUDE_PENDING_REMOVALS")
          continue;
        throw err;
      }
      const room = await this.#c.run(async () => {
        const r = new Room(roomId);
        r.nextIndex = resp.header.logIndex + 1n;
        this.#c.rooms.set(roomId, r);
        await enterEpoch(this.#c.apply, r, undefined, out.newState);
        await this.#c.persist(r, true);
        return r;
      });
      this.#c.apply.events.emit({ type: "joined", roomId, epoch: room.epoch });
      await this.#c.sync.syncRoom(room);
      return;
    }
    throw new ClientError("retries_exhausted", "external join kept failing");
  }

  /**
   * After a restart or reconnect, own frames still in flight were not seen in the log:
   * those of the current epoch are asked again with the same request_id (the hub answers a
   * repeat with its first answer); the others can no longer be accepted and are dropped.
   */
  async resumeInflight(room: Room): Promise<void> {
    const ops = [...room.inflight.entries()];
    for (const [sig, op] of ops) {
      const f = parseFrame(op.frame);
      if (f.header.epoch !== room.epoch) {
        await this.#c.run(async () => {
          room.inflight.delete(sig);
          await this.#c.persist(room, false);
        });
        continue;
      }
      const resp: ReceivedFrame = await this.#c.hub.send(op.frame);
      await this.#c.run(async () => {
        if ((resp.header.flags & Flag.ERROR) === 0)
          await this.#c.sync.acceptOwn(room, op.frame, resp);
        else room.inflight.delete(sig);
        await this.#c.persist(room, false);
      });
    }
  }
}

/** True when a pending proposal (the member's own leave or the hub's kick) removes this member. */
export function selfRemovalPending(state: ClientState): boolean {
  const me = ownLeaf(state);
  return Object.values(state.unappliedProposals).some(
    (p) => p.proposal.proposalType === "remove" && p.proposal.remove.removed === me,
  );
}

/**
 * Every commit must cover the pending proposals (DESIGN §4), and a member cannot commit
 * its own removal: while one is pending it can commit nothing.
 */
function assertCanCommit(state: ClientState): void {
  if (selfRemovalPending(state))
    throw new ClientError("removal_pending", "a proposal removing this member is pending");
}

function randomRoomId(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v === 0n ? 1n : v;
}
