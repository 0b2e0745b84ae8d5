import { createDeviceSigner } from "@kalandra/proto";
import { proposeExternal } from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  commitWith,
  createRoomGroup,
  decodeGroupInfo,
  decodeMessage,
  decodeState,
  encodeMessage,
  encodeState,
  groupInfoMessage,
  isRemoved,
  joinExternal,
  joinFromWelcome,
  members,
  processHandshake,
  proposeSelfRemove,
  senderKeysExporter,
} from "../../src/mls/group.js";
import { generateDevice, generateKeyPackages } from "../../src/state/device.js";
import { seededRng, suite, wallStartedClock } from "../support/env.js";

describe("mls/group", () => {
  it("create, add by Welcome, external join, self-remove, hub remove, state codec", async () => {
    const cs = await suite();
    const rng = seededRng("group");
    const clock = wallStartedClock();
    const hubSeed = rng.bytes(32);
    const hub = createDeviceSigner(hubSeed);
    const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map((u) =>
      generateDevice(u, rng),
    );
    if (!alice || !bob || !carol || !dave) throw new Error("devices");
    const [akp] = await generateKeyPackages(alice, 1, clock, cs);
    const bkps = await generateKeyPackages(bob, 1, clock, cs);
    const ckps = await generateKeyPackages(carol, 1, clock, cs);
    const [dkp] = await generateKeyPackages(dave, 1, clock, cs);
    if (!akp || !dkp) throw new Error("kp");
    let a = await createRoomGroup(7n, akp, hub.publicKey, cs);
    const add = await commitWith(a, cs, { add: [bkps[0]!.publicPackage, ckps[0]!.publicPackage] });
    a = add.newState;
    expect(add.welcome).toBeDefined();
    let b = (await joinFromWelcome(add.welcome!, new Map(bkps.map((k) => [k.ref, k])), cs)).state;
    let c = (await joinFromWelcome(add.welcome!, new Map(ckps.map((k) => [k.ref, k])), cs)).state;
    expect(members(b).map((m) => m.userId)).toEqual(["alice", "bob", "carol"]);
    expect(b.groupContext.treeHash).toEqual(a.groupContext.treeHash);

    // external join from the GroupInfo
    const ext = await joinExternal(add.groupInfo, dkp, cs);
    let d = ext.newState;
    a = await processHandshake(a, ext.commit, cs);
    b = await processHandshake(b, ext.commit, cs);
    c = await processHandshake(c, ext.commit, cs);
    expect(c.groupContext.epoch).toBe(2n);
    expect(d.groupContext.treeHash).toEqual(a.groupContext.treeHash);

    // carol leaves: proposal processed by everyone incl. herself, bob commits
    const leave = await proposeSelfRemove(c, cs);
    a = await processHandshake(a, leave.message, cs);
    b = await processHandshake(b, leave.message, cs);
    d = await processHandshake(d, leave.message, cs);
    const selfApplied = await processHandshake(c, leave.message, cs);
    expect(Object.keys(selfApplied.unappliedProposals).length).toBe(1);
    c = selfApplied;
    const cm = await commitWith(b, cs);
    b = cm.newState;
    a = await processHandshake(a, cm.commit, cs);
    d = await processHandshake(d, cm.commit, cs);
    c = await processHandshake(c, cm.commit, cs);
    expect(isRemoved(c)).toBe(true);
    expect(members(a).map((m) => m.userId)).toEqual(["alice", "bob", "dave"]);

    // hub remove proposal for dave, alice commits it
    const gi = decodeGroupInfo(await groupInfoMessage(a, cs));
    const hubProp = encodeMessage(
      await proposeExternal(
        gi,
        { proposalType: "remove", remove: { removed: 3 } },
        hub.publicKey,
        hubSeed,
        cs,
      ),
    );
    a = await processHandshake(a, hubProp, cs);
    b = await processHandshake(b, hubProp, cs);
    d = await processHandshake(d, hubProp, cs);
    const cm2 = await commitWith(a, cs);
    a = cm2.newState;
    b = await processHandshake(b, cm2.commit, cs);
    d = await processHandshake(d, cm2.commit, cs);
    expect(isRemoved(d)).toBe(true);
    expect(b.groupContext.treeHash).toEqual(a.groupContext.treeHash);

    // state codec keeps the exporter
    const restored = decodeState(encodeState(b));
    expect(await senderKeysExporter(restored, cs)).toEqual(await senderKeysExporter(a, cs));
    expect(decodeMessage(cm2.commit).wireformat).toBe("mls_public_message");
  });
});
