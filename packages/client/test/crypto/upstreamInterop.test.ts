/**
 * The patched ts-mls (patches/ts-mls@1.6.4.patch) with the node:crypto provider
 * interoperates with ts-mls 1.6.4 as published, using its default provider: groups
 * created on either side, joined and used on the other, agree on tree hashes and
 * exporter secrets at every epoch and read each other's PrivateMessages (which
 * exercises the lazy secret tree against the eager one).
 */

import type { CiphersuiteImpl, ClientState, MLSMessage, PrivateMessage, Welcome } from "ts-mls";
import * as patched from "ts-mls";
import { beforeAll, describe, expect, it } from "vitest";
import { loadUpstreamTsMls } from "../../../../tools/bench/_tsMlsUpstream.js";
import { getKalandraCiphersuiteImpl } from "../../src/crypto/index.js";
import { fixedCapabilities } from "./mlsFixtures.js";

type TsMls = typeof patched;
type KeyPackages = Awaited<ReturnType<TsMls["generateKeyPackage"]>>;
interface Side {
  lib: TsMls;
  cs: CiphersuiteImpl;
}

const enc = new TextEncoder();
const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

function member(side: Side, name: string) {
  return side.lib.generateKeyPackage(
    { credentialType: "basic", identity: enc.encode(name) },
    fixedCapabilities,
    side.lib.defaultLifetime,
    [],
    side.cs,
  );
}

async function receive(side: Side, st: ClientState, m: MLSMessage): Promise<ClientState> {
  if (m.wireformat !== "mls_public_message" && m.wireformat !== "mls_private_message") {
    throw new Error("not a handshake or application message");
  }
  const r = await side.lib.processMessage(
    m,
    st,
    side.lib.emptyPskIndex,
    side.lib.acceptAll,
    side.cs,
  );
  return r.newState;
}

const asMls = (privateMessage: PrivateMessage): MLSMessage => ({
  version: "mls10",
  wireformat: "mls_private_message",
  privateMessage,
});

/** `side` reads an application message: what it decrypted and its state after. */
async function readApplication(side: Side, st: ClientState, privateMessage: PrivateMessage) {
  const got = await side.lib.processMessage(
    asMls(privateMessage) as never,
    st,
    side.lib.emptyPskIndex,
    side.lib.acceptAll,
    side.cs,
  );
  return { text: got.kind === "applicationMessage" && got.message, state: got.newState };
}

/** `m` joins through `welcome` on `side`. */
function join(side: Side, welcome: Welcome, m: KeyPackages) {
  return side.lib.joinGroup(
    welcome,
    m.publicPackage,
    m.privatePackage,
    side.lib.emptyPskIndex,
    side.cs,
  );
}

/** A commit with an update path, as a PublicMessage. */
function commitWithPath(side: Side, st: ClientState) {
  return side.lib.createCommit({ state: st, cipherSuite: side.cs }, { wireAsPublicMessage: true });
}

async function exporter(side: Side, st: Pick<ClientState, "keySchedule">) {
  return side.lib.mlsExporter(st.keySchedule.exporterSecret, "x", new Uint8Array(0), 32, side.cs);
}

/** `a` creates the group and adds `b` and a second member of its own side. */
async function scenario(a: Side, b: Side) {
  const alice = await member(a, "alice");
  const bob = await member(b, "bob");
  const carol = await member(a, "carol");
  let sa = await a.lib.createGroup(
    enc.encode("up"),
    alice.publicPackage,
    alice.privatePackage,
    [],
    a.cs,
  );
  const added = await a.lib.createCommit(
    { state: sa, cipherSuite: a.cs },
    {
      wireAsPublicMessage: true,
      ratchetTreeExtension: true,
      extraProposals: [bob, carol].map((m) => ({
        proposalType: "add" as const,
        add: { keyPackage: m.publicPackage },
      })),
    },
  );
  sa = added.newState;
  const welcome = added.welcome!;
  let sb = await join(b, welcome, bob);
  let sc = await join(a, welcome, carol);
  const agree = async () => {
    expect(sb.groupContext.treeHash).toEqual(sa.groupContext.treeHash);
    expect(sc.groupContext.treeHash).toEqual(sa.groupContext.treeHash);
    const e = await exporter(a, sa);
    expect(await exporter(b, sb)).toEqual(e);
    expect(await exporter(a, sc)).toEqual(e);
  };
  await agree();
  // Commits with update paths from each side, in turn.
  for (let round = 0; round < 3; round++) {
    const cb = await commitWithPath(b, sb);
    sb = cb.newState;
    sa = await receive(a, sa, cb.commit);
    sc = await receive(a, sc, cb.commit);
    await agree();
    const cc = await commitWithPath(a, sc);
    sc = cc.newState;
    sa = await receive(a, sa, cc.commit);
    sb = await receive(b, sb, cc.commit);
    await agree();
    // Application messages (PrivateMessage) both ways, two per sender.
    for (let i = 0; i < 2; i++) {
      const text = enc.encode(`round ${round} message ${i}`);
      const fromA = await a.lib.createApplicationMessage(sa, text, a.cs);
      sa = fromA.newState;
      const gotB = await readApplication(b, sb, fromA.privateMessage);
      expect(gotB.text).toEqual(text);
      sb = gotB.state;
      const fromB = await b.lib.createApplicationMessage(sb, text, b.cs);
      sb = fromB.newState;
      const gotC = await readApplication(a, sc, fromB.privateMessage);
      expect(gotC.text).toEqual(text);
      sc = gotC.state;
    }
  }
  // A state encoded by the patched side round-trips there and keeps working.
  const bytes = a.lib.encodeGroupState(sa);
  const decoded = a.lib.decodeGroupState(bytes, 0)?.[0];
  expect(decoded).toBeDefined();
  expect(await exporter(a, decoded!)).toEqual(await exporter(a, sa));
}

describe("patched ts-mls + node:crypto ⇄ ts-mls 1.6.4 as published + default provider", () => {
  let ours: Side;
  let upstream: Side;
  beforeAll(async () => {
    const lib = await loadUpstreamTsMls();
    expect(lib.createGroup).not.toBe(patched.createGroup);
    upstream = {
      lib,
      cs: await lib.getCiphersuiteImpl(
        lib.getCiphersuiteFromName(SUITE),
        lib.defaultCryptoProvider,
      ),
    };
    ours = { lib: patched, cs: getKalandraCiphersuiteImpl() };
  });

  it("group created on the patched side", async () => {
    await scenario(ours, upstream);
  });
  it("group created on the published side", async () => {
    await scenario(upstream, ours);
  });
});
