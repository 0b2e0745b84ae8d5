/**
 * Real MLS clients (ts-mls 1.6.4, cipher suite 1) for the public-view tests and the
 * commit-validation bench (tools/bench/_commitValidate.ts, with the node:crypto provider):
 * a room whose GroupContext lists the hub as external sender, handshakes as PublicMessage
 * and GroupInfo with the ratchet tree, as DESIGN §4/§6 and PROBES describe.
 */

import { roomGroupId } from "@kalandra/proto";
import {
  acceptAll,
  type Capabilities,
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
  processMessage,
  proposeExternal,
} from "ts-mls";
import { encodeExternalSenders } from "ts-mls/externalSender.js";
import type { GroupInfo } from "ts-mls/groupInfo.js";
import { PublicGroup } from "../../src/mls/index.js";

export const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
const te = new TextEncoder();

export interface Device {
  name: string;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

export interface Hub {
  publicKey: Uint8Array;
  signKey: Uint8Array;
}

export async function suite(): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
}

export async function hubKeys(cs: CiphersuiteImpl): Promise<Hub> {
  return cs.signature.keygen();
}

/**
 * A member's key package. `capabilities` defaults to ts-mls's, which draws GREASE values
 * with Math.random; the benches pass fixed ones so runs are alike.
 */
/** A test's cast: the cipher suite, the hub's signing keys and one device per name. */
export async function cast<const N extends readonly string[]>(
  names: N,
): Promise<{ cs: CiphersuiteImpl; hub: Hub; devices: { -readonly [K in keyof N]: Device } }> {
  const cs = await suite();
  const hub = await hubKeys(cs);
  const devices: Device[] = [];
  for (const name of names) devices.push(await device(cs, name));
  return { cs, hub, devices: devices as { -readonly [K in keyof N]: Device } };
}

export async function device(
  cs: CiphersuiteImpl,
  name: string,
  capabilities: Capabilities = defaultCapabilities(),
): Promise<Device> {
  const kp = await generateKeyPackage(
    { credentialType: "basic", identity: te.encode(name) },
    capabilities,
    defaultLifetime,
    [],
    cs,
  );
  return { name, ...kp };
}

export function bytes(m: MLSMessage): Uint8Array {
  return encodeMlsMessage(m);
}

export async function createRoom(
  cs: CiphersuiteImpl,
  hub: Hub,
  creator: Device,
  /** A room id gives the group id ROOM_CREATE requires (roomGroupId); a string, any id. */
  groupId: string | bigint = "room-1",
): Promise<ClientState> {
  const externalSenders = {
    extensionType: "external_senders" as const,
    extensionData: encodeExternalSenders([
      {
        signaturePublicKey: hub.publicKey,
        credential: { credentialType: "basic", identity: te.encode("kalandra-hub") },
      },
    ]),
  };
  return createGroup(
    typeof groupId === "bigint" ? roomGroupId(groupId) : te.encode(groupId),
    creator.publicPackage,
    creator.privatePackage,
    [externalSenders],
    cs,
  );
}

export async function groupInfoOf(cs: CiphersuiteImpl, state: ClientState): Promise<GroupInfo> {
  return createGroupInfoWithExternalPubAndRatchetTree(state, [], cs);
}

export function encodeGroupInfo(groupInfo: GroupInfo): Uint8Array {
  return bytes({ version: "mls10", wireformat: "mls_group_info", groupInfo });
}

export async function groupInfoBytes(cs: CiphersuiteImpl, state: ClientState): Promise<Uint8Array> {
  return encodeGroupInfo(await groupInfoOf(cs, state));
}

export interface MadeCommit {
  commit: Uint8Array;
  commitMessage: MLSMessage;
  groupInfo: Uint8Array;
  state: ClientState;
  welcome: MLSMessage | undefined;
}

/** A commit as a Kalandra client makes it: PublicMessage, ratchet tree in Welcome and GroupInfo. */
export async function commit(
  cs: CiphersuiteImpl,
  state: ClientState,
  extraProposals: Proposal[] = [],
): Promise<MadeCommit> {
  const res = await createCommit(
    { state, cipherSuite: cs },
    { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals },
  );
  return {
    commit: bytes(res.commit),
    commitMessage: res.commit,
    groupInfo: await groupInfoBytes(cs, res.newState),
    state: res.newState,
    welcome:
      res.welcome === undefined
        ? undefined
        : { version: "mls10", wireformat: "mls_welcome", welcome: res.welcome },
  };
}

export async function process(
  cs: CiphersuiteImpl,
  state: ClientState,
  message: MLSMessage,
): Promise<ClientState> {
  if (message.wireformat !== "mls_public_message" && message.wireformat !== "mls_private_message")
    throw new Error("not a handshake message");
  const res = await processMessage(message, state, emptyPskIndex, acceptAll, cs);
  if (res.kind !== "newState") throw new Error("expected a handshake message");
  return res.newState;
}

export async function join(
  cs: CiphersuiteImpl,
  d: Device,
  welcome: MLSMessage,
): Promise<ClientState> {
  if (welcome.wireformat !== "mls_welcome") throw new Error("not a welcome");
  return joinGroup(welcome.welcome, d.publicPackage, d.privatePackage, emptyPskIndex, cs);
}

export async function memberProposal(
  cs: CiphersuiteImpl,
  state: ClientState,
  proposal: Proposal,
): Promise<{ message: MLSMessage; bytes: Uint8Array; state: ClientState }> {
  const res = await createProposal(state, true, proposal, cs);
  return { message: res.message, bytes: bytes(res.message), state: res.newState };
}

export async function hubRemove(
  cs: CiphersuiteImpl,
  hub: Hub,
  state: ClientState,
  leaf: number,
): Promise<{ message: MLSMessage; bytes: Uint8Array }> {
  const gi = await groupInfoOf(cs, state);
  const message = await proposeExternal(
    gi,
    { proposalType: "remove", remove: { removed: leaf } },
    hub.publicKey,
    hub.signKey,
    cs,
  );
  return { message, bytes: bytes(message) };
}

export async function externalJoin(
  cs: CiphersuiteImpl,
  d: Device,
  memberState: ClientState,
): Promise<{
  commit: Uint8Array;
  commitMessage: MLSMessage;
  groupInfo: Uint8Array;
  state: ClientState;
}> {
  const gi = await groupInfoOf(cs, memberState);
  const res = await joinGroupExternal(gi, d.publicPackage, d.privatePackage, false, cs);
  const commitMessage: MLSMessage = {
    version: "mls10",
    wireformat: "mls_public_message",
    publicMessage: res.publicMessage,
  };
  return {
    commit: bytes(commitMessage),
    commitMessage,
    groupInfo: await groupInfoBytes(cs, res.newState),
    state: res.newState,
  };
}

/** Alice's room after she adds Bob and Carol in one commit: the hub's views and each client. */
export interface RoomOfThree {
  cs: CiphersuiteImpl;
  hub: Hub;
  alice: Device;
  bob: Device;
  carol: Device;
  /** Alice alone, epoch 0. */
  a0: ClientState;
  room0: PublicGroup;
  /** Alice, Bob and Carol, epoch 1. */
  room: PublicGroup;
  add: MadeCommit;
  a1: ClientState;
  b1: ClientState;
  c1: ClientState;
}

export async function roomOfThree(): Promise<RoomOfThree> {
  const {
    cs,
    hub,
    devices: [alice, bob, carol],
  } = await cast(["alice", "bob", "carol"]);
  const a0 = await createRoom(cs, hub, alice);
  const room0 = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, a0), hub.publicKey);
  const add = await commit(cs, a0, [
    { proposalType: "add", add: { keyPackage: bob.publicPackage } },
    { proposalType: "add", add: { keyPackage: carol.publicPackage } },
  ]);
  const r = room0.checkCommit(add.commit, add.groupInfo, []);
  if (!r.ok) throw new Error(r.message);
  if (add.welcome === undefined) throw new Error("no welcome");
  return {
    cs,
    hub,
    alice,
    bob,
    carol,
    a0,
    room0,
    room: r.next,
    add,
    a1: add.state,
    b1: await join(cs, bob, add.welcome),
    c1: await join(cs, carol, add.welcome),
  };
}
