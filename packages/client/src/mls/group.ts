/**
 * The MLS operations the client needs, on ts-mls, with Kalandra's fixed choices:
 * handshakes always as PublicMessage (the hub checks them, DESIGN §4) and Welcomes and
 * GroupInfos always with the ratchet tree extension (RFC 9420 §12.4.3.3), so joiners need
 * nothing else from the hub. Every function returns the resulting state without touching
 * the input state: the caller adopts it only once the sequencer has accepted the frame.
 */
import { bytesEqual, deriveSenderId, roomGroupId, toHex } from "@kalandra/proto";
import {
  acceptAll,
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  decodeGroupState,
  decodeMlsMessage,
  type Extension,
  emptyPskIndex,
  encodeExternalSenders,
  encodeGroupState,
  encodeMlsMessage,
  type GroupInfo,
  joinGroup,
  joinGroupExternal,
  type KeyPackage,
  type MLSMessage,
  mlsExporter,
  type Proposal,
  processMessage,
  type Welcome,
} from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { ratchetTreeFromExtension } from "ts-mls/groupInfo.js";
import type { OwnKeyPackage } from "../state/device.js";

/** Identity the hub uses in every room's external_senders extension (docs/contracts.md). */
export const HUB_IDENTITY = "kalandra-hub";
/** Label of the exporter secret handed to the sender-key bridge (RFC 9420 §8.5). */
export const SENDER_KEYS_EXPORTER_LABEL = "kalandra";

export class MlsOperationError extends Error {
  override readonly name = "MlsOperationError";
  constructor(
    readonly code: "decode" | "not_member" | "no_key_package" | "wrong_message",
    message: string,
  ) {
    super(message);
  }
}

export interface Member {
  leaf: number;
  userId: string;
  senderId: bigint;
  signaturePublicKey: Uint8Array;
}

export interface CommitOutput {
  newState: ClientState;
  commit: Uint8Array;
  groupInfo: Uint8Array;
  welcome?: Uint8Array;
}

const td = new TextDecoder();

/** The room's MLS group id (proto's roomGroupId: the hub refuses any other at ROOM_CREATE). */
export const roomIdToGroupId = roomGroupId;

/**
 * The hub as external sender 0 (DESIGN §6): lets it propose removals without group secrets.
 * Written as the RFC 9420 §12.1.8.1 list `ExternalSender external_senders<V>` (docs/mls-interop.md).
 */
export function hubExternalSender(hubPublicKey: Uint8Array): Extension {
  return {
    extensionType: "external_senders",
    extensionData: encodeExternalSenders([
      {
        signaturePublicKey: hubPublicKey,
        credential: { credentialType: "basic", identity: new TextEncoder().encode(HUB_IDENTITY) },
      },
    ]),
  };
}

export async function createRoomGroup(
  roomId: bigint,
  kp: OwnKeyPackage,
  hubPublicKey: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  return createGroup(
    roomIdToGroupId(roomId),
    kp.publicPackage,
    kp.privatePackage,
    [hubExternalSender(hubPublicKey)],
    cs,
  );
}

export function encodeMessage(m: MLSMessage): Uint8Array {
  return encodeMlsMessage(m);
}

export function decodeMessage(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw new MlsOperationError("decode", `MLSMessage does not decode: ${String(e)}`);
  }
  if (decoded === undefined) throw new MlsOperationError("decode", "MLSMessage does not decode");
  return decoded[0];
}

export async function groupInfoMessage(
  state: ClientState,
  cs: CiphersuiteImpl,
): Promise<Uint8Array> {
  const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs);
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo });
}

export function decodeGroupInfo(bytes: Uint8Array): GroupInfo {
  const m = decodeMessage(bytes);
  if (m.wireformat !== "mls_group_info")
    throw new MlsOperationError("wrong_message", "not a GroupInfo");
  return m.groupInfo;
}

async function commit(
  state: ClientState,
  cs: CiphersuiteImpl,
  extraProposals: Proposal[],
): Promise<CommitOutput> {
  const res = await createCommit(
    { state, cipherSuite: cs },
    { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals },
  );
  const out: CommitOutput = {
    newState: res.newState,
    commit: encodeMlsMessage(res.commit),
    groupInfo: await groupInfoMessage(res.newState, cs),
  };
  if (res.welcome !== undefined) out.welcome = encodeWelcome(res.welcome);
  return out;
}

function encodeWelcome(welcome: Welcome): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome });
}

/**
 * A commit covering every pending proposal (by reference) plus `extra` ones by value.
 * With no pending or extra proposals it is an empty commit with an update path: a
 * self-update (RFC 9420 §12.4).
 */
export function commitWith(
  state: ClientState,
  cs: CiphersuiteImpl,
  extra: { add?: KeyPackage[]; removeLeaves?: number[] } = {},
): Promise<CommitOutput> {
  const proposals: Proposal[] = [];
  for (const keyPackage of extra.add ?? [])
    proposals.push({ proposalType: "add", add: { keyPackage } });
  for (const removed of extra.removeLeaves ?? [])
    proposals.push({ proposalType: "remove", remove: { removed } });
  return commit(state, cs, proposals);
}

/** A Remove proposal for one's own leaf (leaving: RFC 9420 §12.1.3, a member cannot commit it). */
export async function proposeSelfRemove(
  state: ClientState,
  cs: CiphersuiteImpl,
): Promise<{ newState: ClientState; message: Uint8Array }> {
  const res = await createProposal(
    state,
    true,
    { proposalType: "remove", remove: { removed: state.privatePath.leafIndex } },
    cs,
  );
  return { newState: res.newState, message: encodeMlsMessage(res.message) };
}

/** Joins from a Welcome with whichever of our key packages it was made for. */
export async function joinFromWelcome(
  welcomeBytes: Uint8Array,
  ownPackages: ReadonlyMap<string, OwnKeyPackage>,
  cs: CiphersuiteImpl,
): Promise<{ state: ClientState; usedRef: string }> {
  const m = decodeMessage(welcomeBytes);
  if (m.wireformat !== "mls_welcome") throw new MlsOperationError("wrong_message", "not a Welcome");
  for (const secret of m.welcome.secrets) {
    const ref = toHex(secret.newMember);
    const kp = ownPackages.get(ref);
    if (kp !== undefined) {
      const state = await joinGroup(
        m.welcome,
        kp.publicPackage,
        kp.privatePackage,
        emptyPskIndex,
        cs,
      );
      return { state, usedRef: ref };
    }
  }
  throw new MlsOperationError("no_key_package", "the Welcome names none of our key packages");
}

/** External commit from the hub's GroupInfo (RFC 9420 §12.4.3.2). */
export async function joinExternal(
  groupInfoBytes: Uint8Array,
  kp: OwnKeyPackage,
  cs: CiphersuiteImpl,
): Promise<{ newState: ClientState; commit: Uint8Array; groupInfo: Uint8Array }> {
  const gi = decodeGroupInfo(groupInfoBytes);
  // Already a leaf with this device key (a Welcome that never arrived, or a state lost or
  // diverged): rejoin with `resync`, which removes the old leaf in the same commit
  // (RFC 9420 §12.4.3.2), instead of failing on a duplicate signature key.
  const own = kp.publicPackage.leafNode.signaturePublicKey;
  const resync = (ratchetTreeFromExtension(gi) ?? []).some(
    (n) => n?.nodeType === "leaf" && bytesEqual(n.leaf.signaturePublicKey, own),
  );
  const res = await joinGroupExternal(gi, kp.publicPackage, kp.privatePackage, resync, cs);
  return {
    newState: res.newState,
    commit: encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_public_message",
      publicMessage: res.publicMessage,
    }),
    groupInfo: await groupInfoMessage(res.newState, cs),
  };
}

/** Applies a proposal or commit someone else sent (PublicMessage). */
export async function processHandshake(
  state: ClientState,
  bytes: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  const m = decodeMessage(bytes);
  if (m.wireformat !== "mls_public_message")
    throw new MlsOperationError("wrong_message", "handshakes travel as PublicMessage");
  const res = await processMessage(m, state, emptyPskIndex, acceptAll, cs);
  return res.newState;
}

export function members(state: ClientState): Member[] {
  const out: Member[] = [];
  state.ratchetTree.forEach((node, i) => {
    if (node === undefined || node.nodeType !== "leaf") return;
    const cred = node.leaf.credential;
    const userId = cred.credentialType === "basic" ? td.decode(cred.identity) : "";
    out.push({
      leaf: i / 2,
      userId,
      senderId: deriveSenderId(node.leaf.signaturePublicKey),
      signaturePublicKey: node.leaf.signaturePublicKey,
    });
  });
  return out;
}

export function ownLeaf(state: ClientState): number {
  return state.privatePath.leafIndex;
}

export function isRemoved(state: ClientState): boolean {
  return state.groupActiveState.kind === "removedFromGroup";
}

export function treeHash(state: ClientState): Uint8Array {
  return state.groupContext.treeHash;
}

/** The epoch's exporter secret for the sender-key bridge (RFC 9420 §8.5). */
export function senderKeysExporter(state: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return mlsExporter(
    state.keySchedule.exporterSecret,
    SENDER_KEYS_EXPORTER_LABEL,
    new Uint8Array(0),
    32,
    cs,
  );
}

export function encodeState(state: ClientState): Uint8Array {
  return encodeGroupState(state);
}

export function decodeState(bytes: Uint8Array): ClientState {
  const d = decodeGroupState(bytes, 0);
  if (d === undefined) throw new MlsOperationError("decode", "stored group state does not decode");
  return { ...d[0], clientConfig: defaultClientConfig };
}
