/**
 * A member on our own stack: @kalandra/client's device keys, its node:crypto cipher-suite
 * provider and its MLS group wrapper (packages/client/src/mls/group.ts), the same calls the
 * client makes in a room. Application messages are the one thing the wrapper has no call
 * for (Kalandra sends content through the sender-key bridge, DESIGN §7), so they use ts-mls's
 * PrivateMessage directly with the same provider.
 */
import { systemClock, systemRng } from "@kalandra/proto";
import {
  acceptAll,
  type ClientState,
  createApplicationMessage,
  emptyPskIndex,
  encodeMlsMessage,
  mlsExporter,
  processMessage,
} from "ts-mls";
import { decodeKeyPackage, encodeKeyPackage } from "ts-mls/keyPackage.js";
import { getKalandraCiphersuiteImpl } from "../../packages/client/src/crypto/index.js";
import {
  type CommitOutput,
  commitWith,
  createRoomGroup,
  decodeMessage,
  isRemoved,
  joinExternal,
  joinFromWelcome,
  members,
  processHandshake,
} from "../../packages/client/src/mls/group.js";
import {
  type Device,
  deviceFromSeed,
  generateKeyPackages,
  type OwnKeyPackage,
} from "../../packages/client/src/state/device.js";
import type { CommitOut, InteropMember, Received } from "./member.js";
import { CORE_CRYPTO_EXPORTER_LABEL } from "./openmls.js";

export class KalandraMember implements InteropMember {
  readonly impl = "kalandra" as const;
  private readonly cs = getKalandraCiphersuiteImpl(systemRng);
  private readonly device: Device;
  private readonly packages = new Map<string, OwnKeyPackage>();
  private state: ClientState | undefined;

  constructor(readonly identity: string) {
    this.device = deviceFromSeed(identity, systemRng.bytes(32));
  }

  private get current(): ClientState {
    if (this.state === undefined) throw new Error(`${this.identity} is in no group`);
    return this.state;
  }

  private adopt(out: CommitOutput): CommitOut {
    this.state = out.newState;
    const c: CommitOut = { commit: out.commit, groupInfo: out.groupInfo };
    if (out.welcome !== undefined) c.welcome = out.welcome;
    return c;
  }

  private async freshPackage(): Promise<OwnKeyPackage> {
    const [kp] = await generateKeyPackages(this.device, 1, systemClock, this.cs);
    if (kp === undefined) throw new Error("no key package generated");
    this.packages.set(kp.ref, kp);
    return kp;
  }

  async keyPackage(): Promise<Uint8Array> {
    const kp = await this.freshPackage();
    return encodeKeyPackage(kp.publicPackage);
  }

  /**
   * Our rooms always list the hub as external sender (createRoomGroup), so a room made
   * here without a hub key is not a Kalandra room: refuse rather than pretend.
   */
  async createGroup(groupId: Uint8Array, hubPublicKey?: Uint8Array): Promise<void> {
    if (hubPublicKey === undefined) throw new Error("a Kalandra room always names the hub");
    const kp = await this.freshPackage();
    this.state = await createRoomGroup(groupIdToRoomId(groupId), kp, hubPublicKey, this.cs);
  }

  async add(keyPackages: Uint8Array[]): Promise<CommitOut> {
    const add = keyPackages.map((bytes) => {
      const kp = decodeKeyPackage(bytes, 0);
      if (kp === undefined) throw new Error("key package does not decode");
      return kp[0];
    });
    return this.adopt(await commitWith(this.current, this.cs, { add }));
  }

  async update(): Promise<CommitOut> {
    return this.adopt(await commitWith(this.current, this.cs));
  }

  async remove(identities: string[]): Promise<CommitOut> {
    const leaves = members(this.current)
      .filter((m) => identities.includes(m.userId))
      .map((m) => m.leaf);
    if (leaves.length !== identities.length) throw new Error("removing someone not in the tree");
    return this.adopt(await commitWith(this.current, this.cs, { removeLeaves: leaves }));
  }

  async commitPending(): Promise<CommitOut> {
    if (this.current.unappliedProposals === undefined) throw new Error("no state");
    if (Object.keys(this.current.unappliedProposals).length === 0)
      throw new Error("no pending proposal to commit");
    return this.adopt(await commitWith(this.current, this.cs));
  }

  async joinWelcome(welcome: Uint8Array): Promise<void> {
    const { state, usedRef } = await joinFromWelcome(welcome, this.packages, this.cs);
    this.packages.delete(usedRef);
    this.state = state;
  }

  async joinExternal(groupInfo: Uint8Array): Promise<CommitOut> {
    const kp = await this.freshPackage();
    const res = await joinExternal(groupInfo, kp, this.cs);
    this.packages.delete(kp.ref);
    this.state = res.newState;
    return { commit: res.commit, groupInfo: res.groupInfo };
  }

  async receive(message: Uint8Array): Promise<Received> {
    const m = decodeMessage(message);
    if (m.wireformat === "mls_public_message") {
      const isCommit = m.publicMessage.content.contentType === "commit";
      this.state = await processHandshake(this.current, message, this.cs);
      return isCommit ? { kind: "commit", removed: isRemoved(this.state) } : { kind: "proposal" };
    }
    if (m.wireformat !== "mls_private_message") throw new Error(`cannot receive ${m.wireformat}`);
    // PrivateMessage: application data (or a handshake another client chose to encrypt).
    const res = await processMessage(m, this.current, emptyPskIndex, acceptAll, this.cs);
    this.state = res.newState;
    if (res.kind === "applicationMessage") {
      return { kind: "application", plaintext: res.message };
    }
    return { kind: "commit", removed: isRemoved(res.newState) };
  }

  async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    const res = await createApplicationMessage(this.current, plaintext, this.cs);
    this.state = res.newState;
    return encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_private_message",
      privateMessage: res.privateMessage,
    });
  }

  exporter(length: number): Promise<Uint8Array> {
    const secret = this.current.keySchedule.exporterSecret;
    return mlsExporter(secret, CORE_CRYPTO_EXPORTER_LABEL, new Uint8Array(0), length, this.cs);
  }

  async epoch(): Promise<bigint> {
    return this.current.groupContext.epoch;
  }

  async memberIdentities(): Promise<string[]> {
    return members(this.current)
      .map((m) => m.userId)
      .sort();
  }
}

/** Inverse of the wrapper's roomIdToGroupId: rooms are 16-byte group ids. */
function groupIdToRoomId(groupId: Uint8Array): bigint {
  if (groupId.length !== 16) throw new Error("a room's group id is 16 bytes");
  const dv = new DataView(groupId.buffer, groupId.byteOffset, 16);
  return (dv.getBigUint64(0) << 64n) | dv.getBigUint64(8);
}
