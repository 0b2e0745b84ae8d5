/**
 * Regression for issue 13, defect 1: ts-mls 1.6.4's join-time tree check demanded that every
 * non-blank node on an unmerged leaf's direct path carry the *same* unmerged_leaves list.
 * RFC 9420 §7.9 / §12.4.3.1 only ask the nodes *between* the leaf and the node listing it to
 * list it too. This room reaches the tree of the issue (node 19 = [11], root 15 = [11, 12]),
 * and every later join (Welcome and external) must still succeed.
 */

import { createDeviceSigner } from "@kalandra/proto";
import type { ClientState } from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  commitWith,
  createRoomGroup,
  joinExternal,
  joinFromWelcome,
  members,
  processHandshake,
} from "../../src/mls/group.js";
import { generateDevice, generateKeyPackages, type OwnKeyPackage } from "../../src/state/device.js";
import { seededRng, suite, wallStartedClock } from "../support/env.js";

function unmergedAt(state: ClientState, nodeIndex: number): number[] | undefined {
  const n = state.ratchetTree[nodeIndex];
  return n?.nodeType === "parent" ? n.parent.unmergedLeaves : undefined;
}

describe("mls/unmerged leaves (RFC 9420 §7.9)", () => {
  it("11 members, an update by leaf 8, two adds in one commit: Welcome and external joins succeed", async () => {
    const cs = await suite();
    const rng = seededRng("unmerged-leaves");
    const clock = wallStartedClock();
    const hub = createDeviceSigner(rng.bytes(32));
    const kps: OwnKeyPackage[] = [];
    for (let i = 0; i < 15; i++) {
      const [kp] = await generateKeyPackages(generateDevice(`user${i}`, rng), 1, clock, cs);
      if (kp === undefined) throw new Error("key package");
      kps.push(kp);
    }
    const kp = (i: number): OwnKeyPackage => kps[i] as OwnKeyPackage;
    const join = async (welcome: Uint8Array | undefined, i: number) =>
      (await joinFromWelcome(welcome as Uint8Array, new Map([[kp(i).ref, kp(i)]]), cs)).state;

    // leaves 0..10
    let creator = await createRoomGroup(13n, kp(0), hub.publicKey, cs);
    const addTen = await commitWith(creator, cs, {
      add: kps.slice(1, 11).map((k) => k.publicPackage),
    });
    creator = addTen.newState;
    let leaf8 = await join(addTen.welcome, 8);

    // leaf 8 commits an update: its filtered direct path 17, 19, 15 becomes non-blank
    const update = await commitWith(leaf8, cs);
    leaf8 = update.newState;
    creator = await processHandshake(creator, update.commit, cs);

    // two adds in one add-only commit (no path): leaves 11 and 12 become unmerged
    const addTwo = await commitWith(creator, cs, {
      add: [kp(11).publicPackage, kp(12).publicPackage],
    });
    creator = addTwo.newState;
    leaf8 = await processHandshake(leaf8, addTwo.commit, cs);
    expect(unmergedAt(creator, 19)).toEqual([11]);
    expect(unmergedAt(creator, 15)).toEqual([11, 12]);
    expect(unmergedAt(creator, 23)).toBeUndefined();

    // Welcome joins of the two added users
    const leaf11 = await join(addTwo.welcome, 11);
    const leaf12 = await join(addTwo.welcome, 12);
    expect(leaf11.groupContext.treeHash).toEqual(creator.groupContext.treeHash);
    expect(leaf12.groupContext.treeHash).toEqual(creator.groupContext.treeHash);

    // an external join from the GroupInfo of that epoch
    const ext = await joinExternal(addTwo.groupInfo, kp(13), cs);
    creator = await processHandshake(creator, ext.commit, cs);
    leaf8 = await processHandshake(leaf8, ext.commit, cs);
    expect(ext.newState.groupContext.treeHash).toEqual(creator.groupContext.treeHash);

    // a later Welcome join still succeeds
    const addOne = await commitWith(leaf8, cs, { add: [kp(14).publicPackage] });
    const last = await join(addOne.welcome, 14);
    expect(last.groupContext.treeHash).toEqual(addOne.newState.groupContext.treeHash);
    expect(members(last)).toHaveLength(15);
  });
});
