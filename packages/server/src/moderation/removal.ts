/**
 * Kick (DESIGN §6): the hub removes every device of a user from a room by sending MLS
 * Remove proposals as the room's external sender (RFC 9420 §12.1.8.1), signed with the hub
 * key that the room's `external_senders` extension lists (docs/contracts.md "Identity").
 * The hub holds no group secret: the proposal is a PublicMessage with no membership tag,
 * so it needs only the GroupContext of the room's stored GroupInfo and the hub's Ed25519
 * key. A member then commits it (the sequencer refuses everything else until one does).
 *
 * ts-mls's `proposeExternal` builds and signs the message; the only cipher-suite function
 * it calls is `signature.sign`, which we answer with the hub's node:crypto signer (39 µs,
 * PROBES), so the hub thread loads no HPKE or AEAD code.
 */
import type { DeviceSigner } from "@kalandra/proto";
import {
  type CiphersuiteImpl,
  decodeMlsMessage,
  encodeMlsMessage,
  type GroupInfo,
  type Proposal,
  proposeExternal,
} from "ts-mls";
import type { GroupMember } from "../sequencer/groupView.js";
import { type KickedLeaves, type Outcome, type Refusal, refuse } from "../vocabulary/outcome.js";

/** What a kick needs of one room's sequencer (RoomSequencer satisfies it). */
export interface RemovableRoom {
  readonly groupInfo: Uint8Array;
  readonly epoch: bigint;
  readonly pending: readonly { removedLeaf?: number }[];
  members(): readonly bigint[];
  member(senderId: bigint): GroupMember | undefined;
  proposeRemoval(leaf: number, proposal: Uint8Array): Promise<Outcome>;
}

export class RemovalError extends Error {
  override readonly name = "RemovalError";
  constructor(
    readonly code: "INVALID_GROUP_INFO" | "NOT_EXTERNAL_SENDER",
    message: string,
  ) {
    super(message);
  }
}

/** A cipher suite whose only working part is the hub's signer (all proposeExternal uses). */
function signingSuite(signer: DeviceSigner): CiphersuiteImpl {
  const unsupported = (): never => {
    throw new RemovalError("NOT_EXTERNAL_SENDER", "the hub signs, it does nothing else");
  };
  return {
    signature: {
      sign: async (_key: Uint8Array, message: Uint8Array) => signer.sign(message),
      verify: unsupported,
      keygen: unsupported,
    },
  } as unknown as CiphersuiteImpl;
}

/** The GroupInfo inside a GroupInfo MLSMessage; RemovalError INVALID_GROUP_INFO otherwise. */
export function decodeRoomGroupInfo(groupInfo: Uint8Array): GroupInfo {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(groupInfo, 0);
  } catch {
    decoded = undefined;
  }
  if (decoded === undefined || decoded[0].wireformat !== "mls_group_info") {
    throw new RemovalError("INVALID_GROUP_INFO", "the room's GroupInfo does not decode");
  }
  return decoded[0].groupInfo;
}

/**
 * The MLSMessage (PublicMessage, sender external) proposing `proposal`, made at the epoch
 * of `groupInfo` (a GroupInfo MLSMessage) and signed by the hub. Throws RemovalError when
 * the bytes are not a GroupInfo or the hub is not among the room's external senders.
 */
export async function buildExternalProposal(
  groupInfo: Uint8Array,
  proposal: Proposal,
  signer: DeviceSigner,
): Promise<Uint8Array> {
  const info = decodeRoomGroupInfo(groupInfo);
  let message: Awaited<ReturnType<typeof proposeExternal>>;
  try {
    message = await proposeExternal(
      info,
      proposal,
      signer.publicKey,
      new Uint8Array(0),
      signingSuite(signer),
    );
  } catch (e) {
    if (e instanceof RemovalError) throw e;
    throw new RemovalError("NOT_EXTERNAL_SENDER", String((e as Error)?.message ?? e));
  }
  return encodeMlsMessage(message);
}

/** The hub's external Remove of `leaf` (buildExternalProposal). */
export function buildExternalRemove(
  groupInfo: Uint8Array,
  leaf: number,
  signer: DeviceSigner,
): Promise<Uint8Array> {
  return buildExternalProposal(
    groupInfo,
    { proposalType: "remove", remove: { removed: leaf } },
    signer,
  );
}

/** Leaves of `userId`'s devices in the room, in leaf order. */
export function leavesOf(room: RemovableRoom, userId: string): number[] {
  const out: number[] = [];
  for (const s of room.members()) {
    const m = room.member(s);
    if (m !== undefined && m.userId === userId) out.push(m.leaf);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Why the hub cannot make a removal: NOT_ENLISTED when it is not among the room's external
 * senders (a hub that took the room over before a commit enlisted it), else INTERNAL.
 */
function removalRefusal(e: unknown): Refusal {
  const msg = String((e as Error)?.message ?? e);
  if (e instanceof RemovalError && e.code === "NOT_EXTERNAL_SENDER") {
    return refuse(
      "NOT_ENLISTED",
      `this hub is not one of the room's external senders yet; the room's next commit enlists it (${msg})`,
    );
  }
  return refuse("INTERNAL", `cannot build the removal: ${msg}`);
}

export type KickOutcome = { ok: true; kick: KickedLeaves } | { ok: false; refusal: Refusal };

/** Tries per leaf: a commit may move the epoch between building and sequencing. */
const ATTEMPTS = 3;

/**
 * Proposes the removal of every device of `userId`. NOT_MEMBER when the user has none in
 * the room. Devices whose removal is pending already are not proposed twice.
 */
export async function kickUser(
  room: RemovableRoom,
  userId: string,
  signer: DeviceSigner,
): Promise<KickOutcome> {
  const leaves = leavesOf(room, userId);
  if (leaves.length === 0) {
    return { ok: false, refusal: refuse("NOT_MEMBER", `${userId} has no device in the room`) };
  }
  const kick: KickedLeaves = { leaves: [], logIndexes: [], alreadyPending: [] };
  for (const leaf of leaves) {
    let last: Refusal | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (room.pending.some((p) => p.removedLeaf === leaf)) {
        kick.alreadyPending.push(leaf);
        last = undefined;
        break;
      }
      const epoch = room.epoch;
      let proposal: Uint8Array;
      try {
        proposal = await buildExternalRemove(room.groupInfo, leaf, signer);
      } catch (e) {
        return { ok: false, refusal: removalRefusal(e) };
      }
      const r = await room.proposeRemoval(leaf, proposal);
      if (r.ok) {
        kick.leaves.push(leaf);
        kick.logIndexes.push(r.logIndex ?? -1n);
        last = undefined;
        break;
      }
      last = r.refusal;
      // Only a moved epoch is worth another try; the leaf may be gone after it.
      if (!leavesOf(room, userId).includes(leaf)) {
        last = undefined;
        break;
      }
      if (room.epoch === epoch) break;
    }
    if (last !== undefined) return { ok: false, refusal: last };
  }
  return { ok: true, kick };
}
