/**
 * Test fixtures: a seeded Rng (replayable failures, no Math.random) and small MLS
 * group helpers used by the differential, determinism and interop tests.
 */
import { seededRng } from "@kalandra/test-support";
import {
  acceptAll,
  type Capabilities,
  type CiphersuiteImpl,
  type ClientState,
  createCommit,
  createGroup,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  joinGroup,
  type KeyPackage,
  type MLSMessage,
  type MlsPrivateMessage,
  type MlsPublicMessage,
  type PrivateKeyPackage,
  processMessage,
  type Welcome,
} from "ts-mls";

export { seededRng };

/** No GREASE: ts-mls's defaultCapabilities() draws GREASE values with Math.random. */
export const fixedCapabilities: Capabilities = {
  versions: ["mls10"],
  ciphersuites: [
    "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
    "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
  ],
  extensions: [],
  proposals: [],
  credentials: ["basic"],
};

export interface Member {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

export async function newMember(name: string, cs: CiphersuiteImpl): Promise<Member> {
  return generateKeyPackage(
    { credentialType: "basic", identity: new TextEncoder().encode(name) },
    fixedCapabilities,
    defaultLifetime,
    [],
    cs,
  );
}

export async function newGroup(
  groupId: string,
  creator: Member,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  return createGroup(
    new TextEncoder().encode(groupId),
    creator.publicPackage,
    creator.privatePackage,
    [],
    cs,
  );
}

/** Adds `joiners` in one commit (PublicMessage handshake, ratchet tree in the Welcome). */
export async function addMembers(
  state: ClientState,
  joiners: readonly Member[],
  cs: CiphersuiteImpl,
): Promise<{ state: ClientState; welcome: Welcome; commit: MLSMessage }> {
  const r = await createCommit(
    { state, cipherSuite: cs },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: joiners.map((j) => ({
        proposalType: "add" as const,
        add: { keyPackage: j.publicPackage },
      })),
    },
  );
  if (r.welcome === undefined) throw new Error("no welcome");
  return { state: r.newState, welcome: r.welcome, commit: r.commit };
}

export async function join(
  welcome: Welcome,
  member: Member,
  cs: CiphersuiteImpl,
): Promise<ClientState> {
  return joinGroup(welcome, member.publicPackage, member.privatePackage, emptyPskIndex, cs);
}

/** Processes a handshake or application message and returns the new state. */
export async function receive(
  state: ClientState,
  message: MLSMessage | MlsPrivateMessage | MlsPublicMessage,
  cs: CiphersuiteImpl,
) {
  if (message.wireformat !== "mls_public_message" && message.wireformat !== "mls_private_message") {
    throw new Error(`unexpected wireformat ${message.wireformat}`);
  }
  return processMessage(message, state, emptyPskIndex, acceptAll, cs);
}
