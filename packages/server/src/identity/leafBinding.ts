/**
 * Credentials bound to identity (DESIGN §10): every leaf a frame brings into a group must
 * carry a credential naming the authenticated owner of its signature key.
 *
 * Checked by the hub core in the main thread before the frame goes to the room's shard:
 * the device registry lives in the hub's own storage, which worker shards cannot read,
 * while the frame carries all that is needed (each new leaf's key and credential). The
 * cost is one more decode of a handshake message, and commits are rare next to messages.
 *
 * - An Add (in a COMMIT by value, or a PROPOSAL): the key package's leaf signature key must
 *   be a registered, unrevoked device, and its credential must name that device's user. A
 *   ghost key the hub never authenticated, or alice's name on bob's key, is refused.
 * - The sender's own new leaf (a COMMIT's UpdatePath, an Update PROPOSAL, an
 *   EXTERNAL_COMMIT's joiner): the session's device key, and a credential naming the
 *   session's user.
 *
 * The credential is a BasicCredential whose identity is the UTF-8 user id (docs/identity.md).
 * MLS that does not decode is left to the sequencer, which refuses it with its own code.
 */
import {
  bytesEqual,
  type Clock,
  canary,
  decodePayload,
  deriveSenderId,
  type Frame,
  Opcode,
  opcodeName,
} from "@kalandra/proto";
import type { LeafNode } from "ts-mls/leafNode.js";
import type { Proposal } from "ts-mls/proposal.js";
import type { PublicMessage } from "ts-mls/publicMessage.js";
import { RefusalLimiter } from "../audit/refusals.js";
import { decodePublicMessage } from "../mls/messages.js";
import { userIdOf } from "../mls/validate.js";
import type { AuditRecord, StoredDevice } from "../storage/types.js";
import { type Refusal, refuse } from "../vocabulary/outcome.js";
import type { DeviceRegistry } from "./devices.js";

/** The device and user a session authenticated as. */
export interface Speaker {
  deviceKey: Uint8Array;
  senderId: bigint;
  userId: string;
}

export interface LeafBindingDeps {
  devices: DeviceRegistry;
  /** Federation: a device of another hub (its home vouched for it in a key-package claim). */
  remoteOwner?: (senderId: bigint) => StoredDevice | undefined;
  storage: { appendAudit(record: AuditRecord): Promise<void> };
  clock: Clock;
}

/** The hub core's check of every frame that may bring a leaf into a group. */
export class LeafBinding {
  /** A refusal is a rights violation: audited, at most 20 records a minute. */
  private readonly refusals: RefusalLimiter;

  constructor(private readonly d: LeafBindingDeps) {
    this.refusals = new RefusalLimiter(d.clock);
  }

  /** CREDENTIAL_MISMATCH (audited) when a new leaf is not bound to its owner. */
  async check(frame: Frame, speaker: Speaker): Promise<Refusal | undefined> {
    const h = frame.header;
    // canary: simulation-only planted bug (DESIGN §8), any credential on any key.
    if (!LEAF_OPCODES.has(h.opcode) || canary("leaf_binding_unchecked")) return undefined;
    const problem = unboundLeaf(frame, speaker, (key) => this.ownerOf(key));
    if (problem === undefined) return undefined;
    const detail = this.refusals.admit({
      reason: problem,
      opcode: opcodeName(h.opcode) ?? h.opcode,
      sender_id: speaker.senderId.toString(16),
    });
    if (detail !== undefined) {
      await this.d.storage.appendAudit({
        kind: "credential_refused",
        at: this.d.clock.now(),
        roomId: h.roomId,
        actor: `user:${speaker.userId}`,
        detail,
      });
    }
    return refuse("CREDENTIAL_MISMATCH", problem);
  }

  /** The registered device with exactly this key (a 63-bit sender_id alone could collide). */
  private ownerOf(key: Uint8Array): StoredDevice | undefined {
    if (key.length !== 32) return undefined;
    const senderId = deriveSenderId(key);
    const d = this.d.devices.device(senderId);
    if (d !== undefined) return bytesEqual(d.deviceKey, key) ? d : undefined;
    const remote = this.d.remoteOwner?.(senderId);
    return remote === undefined ? undefined : { ...remote, deviceKey: key };
  }
}

/** The registered device with this signature key (revoked ones too), or undefined. */
export type OwnerOf = (signatureKey: Uint8Array) => StoredDevice | undefined;

/** Opcodes whose frames may bring a new leaf into a group. */
export const LEAF_OPCODES: ReadonlySet<number> = new Set([
  Opcode.COMMIT,
  Opcode.PROPOSAL,
  Opcode.EXTERNAL_COMMIT,
]);

/** Why one of the frame's new leaves is not bound to its owner; undefined when all are. */
export function unboundLeaf(frame: Frame, speaker: Speaker, ownerOf: OwnerOf): string | undefined {
  const pm = publicMessageOf(frame);
  if (pm === undefined) return undefined;
  const c = pm.content;
  if (c.contentType === "proposal") return proposalProblem(c.proposal, speaker, ownerOf);
  if (c.contentType !== "commit") return undefined;
  for (const p of c.commit.proposals) {
    if (p.proposalOrRefType !== "proposal") continue; // by reference: checked when proposed
    const problem = proposalProblem(p.proposal, speaker, ownerOf);
    if (problem !== undefined) return problem;
  }
  const path = c.commit.path;
  return path === undefined ? undefined : ownLeafProblem(path.leafNode, speaker);
}

function publicMessageOf(frame: Frame): PublicMessage | undefined {
  try {
    const op = frame.header.opcode;
    const mls =
      op === Opcode.PROPOSAL
        ? decodePayload(Opcode.PROPOSAL, frame.payload).message
        : op === Opcode.COMMIT
          ? decodePayload(Opcode.COMMIT, frame.payload).commit
          : op === Opcode.EXTERNAL_COMMIT
            ? decodePayload(Opcode.EXTERNAL_COMMIT, frame.payload).commit
            : undefined;
    return mls === undefined ? undefined : decodePublicMessage(mls, "INVALID_COMMIT");
  } catch {
    return undefined;
  }
}

function proposalProblem(p: Proposal, speaker: Speaker, ownerOf: OwnerOf): string | undefined {
  if (p.proposalType === "update") return ownLeafProblem(p.update.leafNode, speaker);
  if (p.proposalType !== "add") return undefined;
  const leaf = p.add.keyPackage.leafNode;
  const owner = ownerOf(leaf.signaturePublicKey);
  if (owner === undefined)
    return "an added key package's key is not a device this hub authenticated";
  if (owner.revokedAt !== undefined) return "an added key package's device was revoked";
  if (userIdOf(leaf) !== owner.userId) {
    return "an added key package's credential does not name its device's user";
  }
  return undefined;
}

function ownLeafProblem(leaf: LeafNode, speaker: Speaker): string | undefined {
  if (!bytesEqual(leaf.signaturePublicKey, speaker.deviceKey)) {
    return "the sender's new leaf is not signed with its device key";
  }
  if (userIdOf(leaf) !== speaker.userId) {
    return "the sender's new leaf names another user than the session's";
  }
  return undefined;
}
