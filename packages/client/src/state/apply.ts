/**
 * Applying sequenced frames to a room, strictly in log order (DESIGN §4, §7). Each frame's
 * signature is checked against the sender's leaf signature key in this client's own
 * ratchet tree (the hub's frames against the hub key); a frame that fails a check is
 * skipped and reported, its log_index consumed, so every member stays on the same order.
 */
import {
  applyRoomPolicyChange,
  canary,
  consumeRoomInvites,
  decodePayload,
  Opcode,
} from "@kalandra/proto";
import type { CiphersuiteImpl, ClientState } from "ts-mls";
import { externalSendersOf } from "ts-mls/externalSender.js";
import { decodeEnvelope, type MessageEnvelope } from "../envelope/index.js";
import {
  decodeMessage,
  isRemoved,
  type Member,
  members,
  ownLeaf,
  processHandshake,
  senderKeysExporter,
} from "../mls/group.js";
import { EpochSenderKeys } from "../senderkeys/index.js";
import type { Emitter } from "./events.js";
import { leafSenderId } from "./leafIdentity.js";
import { type Room, signatureKey } from "./room.js";
import { fieldBytes, fieldNumber, payloadOf, type ReceivedFrame, verifyFrame } from "./wire.js";

export interface ApplyContext {
  readonly cs: CiphersuiteImpl;
  readonly hubPublicKey: Uint8Array;
  readonly ownSenderId: bigint;
  readonly events: Emitter;
}

const memberIndex = new WeakMap<ClientState, Map<bigint, Member>>();

/** Members of the state's epoch by sender_id (cached per state object). */
export function memberBySender(state: ClientState): Map<bigint, Member> {
  let m = memberIndex.get(state);
  if (m === undefined) {
    m = new Map(members(state).map((x) => [x.senderId, x]));
    memberIndex.set(state, m);
  }
  return m;
}

class Skip extends Error {}

export async function senderKeysFor(room: Room, cs: CiphersuiteImpl): Promise<EpochSenderKeys> {
  if (room.senderKeys !== undefined) return room.senderKeys;
  const state = room.state;
  if (state === undefined) throw new Error("room has no group state");
  const exporterSecret = await senderKeysExporter(state, cs);
  const keys = new EpochSenderKeys({
    roomId: room.roomId,
    epoch: state.groupContext.epoch,
    exporterSecret,
    ownLeaf: ownLeaf(state),
    senders: members(state).map((m) => m.leaf),
  });
  exporterSecret.fill(0);
  // After a restart the own chain starts again at 0: advance it past every generation
  // already sent in this epoch so no message key is ever used twice.
  const filler = new Uint8Array(0);
  // canary: simulation-only planted bug (DESIGN §8), the chain restarts at 0 after a restart.
  while (!canary("sender_key_reuse") && keys.sendGeneration < room.sentInEpoch) keys.seal(filler);
  room.senderKeys = keys;
  return keys;
}

function verifySender(ctx: ApplyContext, state: ClientState, f: ReceivedFrame): Member | undefined {
  if (f.header.senderId === 0n) {
    // The home hub, or a hub the group lists as an external sender: in a room across hubs
    // the room's authority (another hub) signs the kicks and notices it sequences.
    if (verifyFrame(f, ctx.hubPublicKey)) return undefined;
    if (!externalSenderKeys(state).some((k) => verifyFrame(f, k)))
      throw new Skip("bad hub signature");
    return undefined;
  }
  const m = memberBySender(state).get(f.header.senderId);
  if (m === undefined) throw new Skip("sender is not a member");
  if (!verifyFrame(f, m.signaturePublicKey)) throw new Skip("bad frame signature");
  return m;
}

/** The signature keys of the group's external_senders (the hubs that may propose). */
function externalSenderKeys(state: ClientState): Uint8Array[] {
  const exts = state.groupContext.extensions.filter((e) => e.extensionType === "external_senders");
  return (externalSendersOf(exts) ?? []).map((s) => s.signaturePublicKey);
}

/** An external joiner is not in the tree yet: its key is the leaf its commit installs. */
function verifyExternalJoiner(f: ReceivedFrame, commit: Uint8Array): void {
  const m = decodeMessage(commit);
  if (m.wireformat !== "mls_public_message")
    throw new Skip("external commit is not a PublicMessage");
  const content = m.publicMessage.content;
  if (content.contentType !== "commit" || content.commit.path === undefined)
    throw new Skip("external commit without update path");
  const leaf = content.commit.path.leafNode;
  // The joiner's leaf is its device (DESIGN §10): the key derives to the frame's sender_id.
  if (leafSenderId(leaf) !== f.header.senderId)
    throw new Skip("external joiner's leaf is not the sender's device");
  if (!verifyFrame(f, leaf.signaturePublicKey)) throw new Skip("bad frame signature");
}

/**
 * Applies one frame at `room.nextIndex`. The caller advances `nextIndex` and persists.
 * Returns true when the MLS state changed.
 */
export async function applySequenced(
  ctx: ApplyContext,
  room: Room,
  f: ReceivedFrame,
): Promise<boolean> {
  const state = room.state;
  if (state === undefined || room.removed || room.diverged) return false;
  const own =
    f.header.senderId === ctx.ownSenderId ? room.inflight.get(signatureKey(f)) : undefined;
  if (own !== undefined) room.inflight.delete(signatureKey(f));
  try {
    if (f.erased) throw new Skip("erased");
    switch (f.header.opcode) {
      case Opcode.APP_MESSAGE: {
        if (own?.kind === "app") {
          emitMessage(ctx, room, f, ctx.ownSenderId, own.plaintext, true);
          return false;
        }
        if (f.header.epoch > state.groupContext.epoch) {
          room.future.push(state.groupContext.epoch, f.header.epoch, f);
          return false;
        }
        await openApp(ctx, room, f);
        return false;
      }
      case Opcode.PROPOSAL: {
        if (f.header.epoch !== state.groupContext.epoch)
          throw new Skip("proposal for another epoch");
        if (own === undefined) verifySender(ctx, state, f);
        const p = payloadOf(f);
        room.state = await processHandshake(state, fieldBytes(p, "message"), ctx.cs);
        return true;
      }
      case Opcode.COMMIT:
      case Opcode.EXTERNAL_COMMIT: {
        if (f.header.epoch !== state.groupContext.epoch) throw new Skip("commit for another epoch");
        let next: ClientState;
        if (own?.kind === "commit") {
          // Built on this epoch's state: proposals it does not cover are discarded by the
          // epoch change anyway (RFC 9420 §12.4), so the state kept aside is the result.
          next = own.newState;
        } else {
          const p = payloadOf(f);
          const commit = fieldBytes(p, "commit");
          if (f.header.opcode === Opcode.COMMIT) verifySender(ctx, state, f);
          else verifyExternalJoiner(f, commit);
          try {
            next = await processHandshake(state, commit, ctx.cs);
          } catch (e) {
            // A properly signed commit the hub placed in this epoch that our state cannot
            // process: every later frame builds on it, so this state cannot follow the
            // log any more (the client rejoins by external commit).
            room.diverged = true;
            throw e;
          }
        }
        await enterEpoch(ctx, room, state, next);
        return true;
      }
      case Opcode.ROOM_POLICY: {
        // A member's change or the hub's (a kick's expel); the hub judged it (policy.ts).
        verifySender(ctx, state, f);
        const change = decodePayload(Opcode.ROOM_POLICY, f.payload);
        if (room.policy !== undefined) room.policy = applyRoomPolicyChange(room.policy, change);
        ctx.events.emit({
          type: "policy",
          roomId: room.roomId,
          logIndex: f.header.logIndex,
          change,
        });
        return false;
      }
      case Opcode.REDACTION: {
        verifySender(ctx, state, f);
        const p = payloadOf(f);
        ctx.events.emit({
          type: "redaction",
          roomId: room.roomId,
          logIndex: BigInt(fieldNumber(p, "log_index")),
        });
        return false;
      }
      default:
        return false;
    }
  } catch (e) {
    ctx.events.emit({
      type: "rejected",
      roomId: room.roomId,
      logIndex: f.header.logIndex,
      reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    });
    return false;
  }
}

async function openApp(ctx: ApplyContext, room: Room, f: ReceivedFrame): Promise<void> {
  const state = room.state;
  if (state === undefined) return;
  if (f.header.epoch !== state.groupContext.epoch)
    throw new Skip("application message for an old epoch");
  const sender = verifySender(ctx, state, f);
  if (sender === undefined) throw new Skip("the hub sends no application messages");
  const p = payloadOf(f);
  const keys = await senderKeysFor(room, ctx.cs);
  const plaintext = keys.open(
    sender.leaf,
    fieldNumber(p, "generation"),
    fieldBytes(p, "ciphertext"),
  );
  emitMessage(ctx, room, f, sender.senderId, plaintext, false, sender.userId);
}

function emitMessage(
  ctx: ApplyContext,
  room: Room,
  f: ReceivedFrame,
  senderId: bigint,
  plaintext: Uint8Array,
  own: boolean,
  userId?: string,
): void {
  const uid =
    userId ?? (room.state ? memberBySender(room.state).get(senderId)?.userId : undefined) ?? "";
  ctx.events.emit({
    type: "message",
    roomId: room.roomId,
    logIndex: f.header.logIndex,
    epoch: f.header.epoch,
    senderId,
    userId: uid,
    plaintext,
    envelope: tryEnvelope(plaintext),
    own,
  });
}

function tryEnvelope(plaintext: Uint8Array): MessageEnvelope | undefined {
  try {
    return decodeEnvelope(plaintext);
  } catch {
    return undefined;
  }
}

/** Moves the room to the commit's epoch: new keys, membership diff, buffered messages. */
export async function enterEpoch(
  ctx: ApplyContext,
  room: Room,
  before: ClientState | undefined,
  next: ClientState,
): Promise<void> {
  room.state = next;
  room.dropKeys();
  room.sentInEpoch = 0;
  const epoch = next.groupContext.epoch;
  if (isRemoved(next)) {
    room.removed = true;
    room.inflight.clear();
    ctx.events.emit({ type: "removed", roomId: room.roomId, epoch });
    return;
  }
  const old = before ? memberBySender(before) : new Map<bigint, Member>();
  const now = memberBySender(next);
  const added = [...now.values()]
    .filter((m) => old.get(m.senderId)?.leaf !== m.leaf)
    .map((m) => m.userId);
  const removed = [...old.values()]
    .filter((m) => now.get(m.senderId)?.leaf !== m.leaf)
    .map((m) => m.userId);
  if (added.length > 0 || removed.length > 0)
    ctx.events.emit({ type: "membership", roomId: room.roomId, epoch, added, removed });
  if (room.policy !== undefined) {
    // Users who hold a leaf now and held none before used their invites (as on the hub).
    const had = new Set([...old.values()].map((m) => m.userId));
    const joined = [...now.values()].map((m) => m.userId).filter((u) => !had.has(u));
    room.policy = consumeRoomInvites(room.policy, joined);
  }
  ctx.events.emit({
    type: "epoch",
    roomId: room.roomId,
    epoch,
    treeHash: next.groupContext.treeHash,
  });
  for (const f of room.future.take(epoch)) {
    try {
      await openApp(ctx, room, f);
    } catch (e) {
      ctx.events.emit({
        type: "rejected",
        roomId: room.roomId,
        logIndex: f.header.logIndex,
        reason: String(e),
      });
    }
  }
}
