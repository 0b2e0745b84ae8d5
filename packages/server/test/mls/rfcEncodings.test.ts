/**
 * The hub's view and the three RFC 9420 defects of ts-mls 1.6.4 (issue 13,
 * docs/mls-interop.md): unmerged leaves are checked only *between* a leaf and the node listing
 * it (§7.9); `external_senders` is a list and a sender's index its position in it (§12.1.8.1),
 * with the bare legacy form of existing rooms still read; `external_pub` is an opaque<V>
 * HPKEPublicKey (§12.4.3.2).
 */
import { type CiphersuiteImpl, type ClientState, createGroup, type Extension } from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { encodeExternalSender, encodeExternalSenders } from "ts-mls/externalSender.js";
import { ratchetTreeEncoder } from "ts-mls/ratchetTree.js";
import { beforeAll, describe, expect, it } from "vitest";
import { PublicGroup } from "../../src/mls/index.js";
import {
  cast,
  commit,
  type Device,
  device,
  encodeGroupInfo,
  groupInfoBytes,
  groupInfoOf,
  type Hub,
  hubKeys,
  hubRemove,
  join,
  process,
} from "./mlsClients.js";

const te = new TextEncoder();
let cs: CiphersuiteImpl;
let hub: Hub;
let alice: Device;
let bob: Device;

beforeAll(async () => {
  ({
    cs,
    hub,
    devices: [alice, bob],
  } = await cast(["alice", "bob"]));
});

function sender(key: Uint8Array, name: string) {
  return {
    signaturePublicKey: key,
    credential: { credentialType: "basic" as const, identity: te.encode(name) },
  };
}

function hubList(): Extension {
  return {
    extensionType: "external_senders",
    extensionData: encodeExternalSenders([sender(hub.publicKey, "kalandra-hub")]),
  };
}

function roomWith(extension: Extension, groupId: string): Promise<ClientState> {
  return createGroup(
    te.encode(groupId),
    alice.publicPackage,
    alice.privatePackage,
    [extension],
    cs,
  );
}

/** A GroupInfo MLSMessage of `state` whose external_pub extension holds `externalPub` as is. */
async function groupInfoWithExternalPub(
  state: ClientState,
  externalPub: Uint8Array,
): Promise<Uint8Array> {
  const groupInfo = await createGroupInfo(
    state.groupContext,
    state.confirmationTag,
    state,
    [
      { extensionType: "external_pub", extensionData: externalPub },
      {
        extensionType: "ratchet_tree",
        extensionData: encode(ratchetTreeEncoder)(state.ratchetTree),
      },
    ],
    cs,
  );
  return encodeGroupInfo(groupInfo);
}

/** The hub's remove proposal is accepted by the hub and applied by a member's commit. */
async function kickBob(room: PublicGroup, a: ClientState, b: ClientState): Promise<void> {
  const kick = await hubRemove(cs, hub, a, 1);
  const pc = room.checkProposal(kick.bytes);
  if (!pc.ok) throw new Error(`${pc.code}: ${pc.message}`);
  const c = await commit(cs, await process(cs, a, kick.message));
  const r = room.checkCommit(c.commit, c.groupInfo, [pc.ref], [kick.bytes]);
  expect(r).toMatchObject({ ok: true, removedLeaves: [1] });
  expect(
    (await process(cs, await process(cs, b, kick.message), c.commitMessage)).groupActiveState.kind,
  ).toBe("removedFromGroup");
}

describe("external_senders (RFC 9420 §12.1.8.1)", () => {
  it("is one list; the hub's sender index is its position in it", async () => {
    const other = await hubKeys(cs);
    const ext: Extension = {
      extensionType: "external_senders",
      extensionData: encodeExternalSenders([
        sender(other.publicKey, "other"),
        sender(hub.publicKey, "kalandra-hub"),
      ]),
    };
    const a0 = await roomWith(ext, "list-room");
    const room0 = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, a0), hub.publicKey);
    expect(room0.externalSenders()).toEqual([other.publicKey, hub.publicKey]);
    const add = await commit(cs, a0, [
      { proposalType: "add", add: { keyPackage: bob.publicPackage } },
    ]);
    const r = room0.checkCommit(add.commit, add.groupInfo, []);
    if (!r.ok || add.welcome === undefined) throw new Error("add");
    const kick = await hubRemove(cs, hub, add.state, 1);
    const pm =
      kick.message.wireformat === "mls_public_message" ? kick.message.publicMessage : undefined;
    expect(pm?.content.sender).toEqual({ senderType: "external", senderIndex: 1 });
    await kickBob(r.next, add.state, await join(cs, bob, add.welcome));
  });

  it("rooms created before the fix (one bare ExternalSender) keep working, also from a stored view", async () => {
    const legacy: Extension = {
      extensionType: "external_senders",
      extensionData: encodeExternalSender(sender(hub.publicKey, "kalandra-hub")),
    };
    const a0 = await roomWith(legacy, "legacy-room");
    const stored = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, a0), hub.publicKey).encode();
    const room0 = PublicGroup.decode(stored);
    expect(room0.externalSenders()).toEqual([hub.publicKey]);
    const add = await commit(cs, a0, [
      { proposalType: "add", add: { keyPackage: bob.publicPackage } },
    ]);
    const r = room0.checkCommit(add.commit, add.groupInfo, []);
    if (!r.ok || add.welcome === undefined) throw new Error("add");
    await kickBob(r.next, add.state, await join(cs, bob, add.welcome));
  });

  it("refuses an external_senders extension that is neither form, and two of them", async () => {
    const a0 = await roomWith(hubList(), "bad");
    const withExtensions = (extensions: Extension[]): ClientState => ({
      ...a0,
      groupContext: { ...a0.groupContext, extensions },
    });
    const garbage: Extension = {
      extensionType: "external_senders",
      extensionData: new Uint8Array([5, 1, 2]),
    };
    for (const state of [withExtensions([garbage]), withExtensions([hubList(), hubList()])]) {
      const gi = await groupInfoWithExternalPub(
        state,
        new Uint8Array([32, ...new Uint8Array(32).fill(7)]),
      );
      expect(() => PublicGroup.fromGroupInfo(gi, hub.publicKey)).toThrow(/external_senders/);
    }
  });
});

describe("external_pub (RFC 9420 §12.4.3.2)", () => {
  it("is written as HPKEPublicKey<V>: a length prefix and the 32-byte X25519 key", async () => {
    const a0 = await roomWith(hubList(), "pub");
    const ext = (await groupInfoOf(cs, a0)).extensions.find(
      (e) => e.extensionType === "external_pub",
    );
    expect(ext?.extensionData.length).toBe(33);
    expect(ext?.extensionData[0]).toBe(32);
  });

  it("the hub accepts the RFC form and the legacy bare key, and refuses anything else", async () => {
    const a0 = await roomWith(hubList(), "pub2");
    const key = new Uint8Array(32).fill(7);
    const rfc = new Uint8Array([32, ...key]);
    expect(
      PublicGroup.fromGroupInfo(await groupInfoWithExternalPub(a0, rfc), hub.publicKey).epoch,
    ).toBe(0n);
    expect(
      PublicGroup.fromGroupInfo(await groupInfoWithExternalPub(a0, key), hub.publicKey).epoch,
    ).toBe(0n);
    const malformed = [
      new Uint8Array(0),
      new Uint8Array([33, ...key]), // the prefix claims more than there is
      new Uint8Array([32, ...key, 0]), // trailing byte
      new Uint8Array([16, ...key.subarray(0, 16)]), // not an X25519 key
    ];
    for (const bad of malformed) {
      const gi = await groupInfoWithExternalPub(a0, bad);
      expect(() => PublicGroup.fromGroupInfo(gi, hub.publicKey)).toThrow(/external_pub/);
    }
  });
});

describe("unmerged leaves (RFC 9420 §7.9, §12.4.3.1)", () => {
  it("the hub follows the issue-13 room: 11 members, an update by leaf 8, two adds in one commit", async () => {
    const devices = [alice];
    for (let i = 1; i < 13; i++) devices.push(await device(cs, `user${i}`));
    const a0 = await roomWith(hubList(), "unmerged");
    let room = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, a0), hub.publicKey);
    const step = (c: { commit: Uint8Array; groupInfo: Uint8Array }) => {
      const r = room.checkCommit(c.commit, c.groupInfo, []);
      if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
      room = r.next;
    };
    const addTen = await commit(
      cs,
      a0,
      devices
        .slice(1, 11)
        .map((d) => ({ proposalType: "add" as const, add: { keyPackage: d.publicPackage } })),
    );
    step(addTen);
    if (addTen.welcome === undefined) throw new Error("welcome");
    const update = await commit(cs, await join(cs, devices[8]!, addTen.welcome));
    step(update);
    const addTwo = await commit(cs, await process(cs, addTen.state, update.commitMessage), [
      { proposalType: "add", add: { keyPackage: devices[11]!.publicPackage } },
      { proposalType: "add", add: { keyPackage: devices[12]!.publicPackage } },
    ]);
    step(addTwo);
    const node = (i: number) => {
      const n = addTwo.state.ratchetTree[i];
      return n?.nodeType === "parent" ? n.parent.unmergedLeaves : undefined;
    };
    expect([node(19), node(15)]).toEqual([[11], [11, 12]]);
    // A fresh view from that GroupInfo runs the joiner's tree checks.
    expect(PublicGroup.fromGroupInfo(addTwo.groupInfo, hub.publicKey).epoch).toBe(3n);
  });
});
