/**
 * The room state the sequencer persists with each frame that changes it (DESIGN §5
 * `mls_state`): the public group view, the committer's GroupInfo for the current epoch,
 * and the pending proposals. Restoring it after a restart gives back exactly the room
 * that was acknowledged (issue 3, "Reopening the data directory restores every room").
 */
import { decodePayload, encodePayload, Opcode, stateCborEncode } from "@kalandra/proto";
import {
  LEGACY_ROOM_POLICY,
  policyFromPayload,
  policyPayload,
  type RoomPolicy,
} from "./roomPolicy.js";
import { decodeCborMap, ProtocolError } from "./wire.js";

export interface PendingProposal {
  /** ProposalRef (RFC 9420 §5.2), what a commit must list to cover it. */
  ref: Uint8Array;
  kind: string;
  /** The proposal's MLSMessage: a commit that references it is applied with it. */
  message: Uint8Array;
  /** sender_id of the proposer; 0 for hub-originated (external sender) proposals. */
  proposer: bigint;
  /** Leaf a Remove proposal removes. */
  removedLeaf?: number;
  logIndex: bigint;
}

export interface RoomState {
  epoch: bigint;
  group: Uint8Array;
  groupInfo: Uint8Array;
  pending: PendingProposal[];
  /** Last HLC stamp issued in this room, so stamps never go back across restarts. */
  hlc: bigint;
  /**
   * Roles, join rule and invites (roomPolicy.ts), stored with the frame that changed them.
   * A room stored before policies existed reads back as LEGACY_ROOM_POLICY.
   */
  policy: RoomPolicy;
}

const big = (v: unknown, name: string): bigint => {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return BigInt(v);
  throw new ProtocolError("INTERNAL", `room state: "${name}" expected an unsigned integer`);
};
const bytes = (v: unknown, name: string): Uint8Array => {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  throw new ProtocolError("INTERNAL", `room state: "${name}" expected bytes`);
};

export function encodeRoomState(s: RoomState): Uint8Array {
  return stateCborEncode({
    v: 1,
    epoch: s.epoch,
    group: s.group,
    group_info: s.groupInfo,
    hlc: s.hlc,
    // The ROOM_POLICY_STATE payload encoding: one strict schema for wire and disk.
    policy: encodePayload(Opcode.ROOM_POLICY_STATE, policyPayload(s.policy)),
    pending: s.pending.map((p) => ({
      ref: p.ref,
      kind: p.kind,
      message: p.message,
      proposer: p.proposer,
      log_index: p.logIndex,
      ...(p.removedLeaf === undefined ? {} : { removed_leaf: p.removedLeaf }),
    })),
  });
}

export function decodeRoomState(b: Uint8Array): RoomState {
  const m = decodeCborMap(b);
  const pending = m.pending;
  if (!Array.isArray(pending)) throw new ProtocolError("INTERNAL", "room state: pending");
  return {
    epoch: big(m.epoch, "epoch"),
    group: bytes(m.group, "group"),
    groupInfo: bytes(m.group_info, "group_info"),
    hlc: big(m.hlc, "hlc"),
    policy:
      m.policy === undefined
        ? LEGACY_ROOM_POLICY
        : policyFromPayload(decodePayload(Opcode.ROOM_POLICY_STATE, bytes(m.policy, "policy"))),
    pending: pending.map((p: Record<string, unknown>) => ({
      ref: bytes(p.ref, "ref"),
      kind: String(p.kind),
      message: bytes(p.message, "message"),
      proposer: big(p.proposer, "proposer"),
      logIndex: big(p.log_index, "log_index"),
      ...(p.removed_leaf === undefined ? {} : { removedLeaf: Number(p.removed_leaf) }),
    })),
  };
}
