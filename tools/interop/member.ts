/**
 * What the interop suite asks of a member, whichever implementation runs it, and the
 * MLSMessage framing both sides exchange (RFC 9420 §6: version u16, wire_format u16, body).
 * Every message between members travels as an MLSMessage; only core-crypto's GroupInfo
 * constructor wants the bare struct.
 */

export type Implementation = "kalandra" | "openmls";

/** A commit as it goes on the wire, with its Welcome and the new epoch's GroupInfo. */
export interface CommitOut {
  commit: Uint8Array;
  groupInfo: Uint8Array;
  welcome?: Uint8Array;
}

export type Received =
  /** `sender`: the sender's identity where the implementation reports it (core-crypto does). */
  | { kind: "application"; plaintext: Uint8Array; sender?: string }
  | { kind: "commit"; removed: boolean }
  | { kind: "proposal" };

export interface InteropMember {
  readonly impl: Implementation;
  /** The leaf's BasicCredential identity (identity.ts). */
  readonly identity: string;
  /** A fresh KeyPackage: the bare struct (RFC 9420 §10), which core-crypto's constructor takes. */
  keyPackage(): Promise<Uint8Array>;
  createGroup(groupId: Uint8Array, hubPublicKey?: Uint8Array): Promise<void>;
  add(keyPackages: Uint8Array[]): Promise<CommitOut>;
  /** A commit with an update path and no proposals. */
  update(): Promise<CommitOut>;
  remove(identities: string[]): Promise<CommitOut>;
  /** A commit of every pending proposal (the kick path commits the hub's Remove). */
  commitPending(): Promise<CommitOut>;
  joinWelcome(welcome: Uint8Array): Promise<void>;
  joinExternal(groupInfo: Uint8Array): Promise<CommitOut>;
  /** Processes a commit, proposal or application message someone else sent. */
  receive(message: Uint8Array): Promise<Received>;
  encrypt(plaintext: Uint8Array): Promise<Uint8Array>;
  /** MLS-Exporter(label core-crypto uses, "", length) of the current epoch (RFC 9420 §8.5). */
  exporter(length: number): Promise<Uint8Array>;
  epoch(): Promise<bigint>;
  /** Identities of every leaf in the member's tree, sorted. */
  memberIdentities(): Promise<string[]>;
}

const WIRE_FORMATS = {
  mls_public_message: 1,
  mls_private_message: 2,
  mls_welcome: 3,
  mls_group_info: 4,
  mls_key_package: 5,
} as const;
type WireFormat = keyof typeof WIRE_FORMATS;
const MLS10 = 1;

export function mlsMessageFormat(bytes: Uint8Array): WireFormat | undefined {
  if (bytes.length < 4) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0) !== MLS10) return undefined;
  const wf = dv.getUint16(2);
  return (Object.keys(WIRE_FORMATS) as WireFormat[]).find((k) => WIRE_FORMATS[k] === wf);
}

export function expectMlsMessage(bytes: Uint8Array, format: WireFormat): Uint8Array {
  const got = mlsMessageFormat(bytes);
  if (got !== format) throw new Error(`expected an MLSMessage of ${format}, got ${got ?? "none"}`);
  return bytes;
}

export function stripMlsMessageHeader(bytes: Uint8Array, format: WireFormat): Uint8Array {
  return expectMlsMessage(bytes, format).subarray(4);
}
