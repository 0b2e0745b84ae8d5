import { toHex as hex } from "@kalandra/proto";
import type { CiphersuiteImpl, ClientState } from "ts-mls";
import { beforeAll, describe, expect, it } from "vitest";
import { PublicGroup } from "../../src/mls/index.js";
import {
  cast,
  commit,
  createRoom,
  type Device,
  device,
  externalJoin,
  groupInfoBytes,
  type Hub,
  hubRemove,
  join,
  process,
} from "./mlsClients.js";

let cs: CiphersuiteImpl;
let hub: Hub;
let alice: Device;
let bob: Device;
let carol: Device;

beforeAll(async () => {
  ({
    cs,
    hub,
    devices: [alice, bob, carol],
  } = await cast(["alice", "bob", "carol"]));
});

describe("PublicGroup scenario", () => {
  it("follows a room through adds, update, hub removal and external join", async () => {
    let aliceState: ClientState = await createRoom(cs, hub, alice);
    let room = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, aliceState), hub.publicKey);
    expect(room.epoch).toBe(0n);
    expect(hex(room.treeHash)).toBe(hex(aliceState.groupContext.treeHash));
    expect(room.members().map((m) => m.userId)).toEqual(["alice"]);
    expect(room.externalSenders().map(hex)).toEqual([hex(hub.publicKey)]);

    // Alice adds Bob and Carol by value.
    const add = await commit(cs, aliceState, [
      { proposalType: "add", add: { keyPackage: bob.publicPackage } },
      { proposalType: "add", add: { keyPackage: carol.publicPackage } },
    ]);
    const r1 = room.checkCommit(add.commit, add.groupInfo, []);
    if (!r1.ok) throw new Error(`${r1.code}: ${r1.message}`);
    expect(r1.addedMembers.map((m) => m.userId)).toEqual(["bob", "carol"]);
    expect(room.epoch).toBe(0n); // never mutated
    room = r1.next;
    aliceState = add.state;
    expect(room.epoch).toBe(1n);
    expect(hex(room.treeHash)).toBe(hex(aliceState.groupContext.treeHash));
    let bobState = await join(cs, bob, add.welcome!);
    let carolState = await join(cs, carol, add.welcome!);

    // Bob: empty commit with an update path.
    const upd = await commit(cs, bobState);
    const r2 = room.checkCommit(upd.commit, upd.groupInfo, []);
    if (!r2.ok) throw new Error(`${r2.code}: ${r2.message}`);
    room = r2.next;
    bobState = upd.state;
    aliceState = await process(cs, aliceState, upd.commitMessage);
    carolState = await process(cs, carolState, upd.commitMessage);
    expect(hex(room.treeHash)).toBe(hex(aliceState.groupContext.treeHash));
    expect(hex(room.treeHash)).toBe(hex(carolState.groupContext.treeHash));

    // The hub proposes to remove Carol; Alice commits it by reference.
    const rm = await hubRemove(cs, hub, aliceState, 2);
    const pc = room.checkProposal(rm.bytes);
    if (!pc.ok) throw new Error(`${pc.code}: ${pc.message}`);
    expect(pc.proposal).toMatchObject({
      type: "remove",
      removedLeaf: 2,
      removedUserId: "carol",
      externalSender: 0,
    });
    aliceState = await process(cs, aliceState, rm.message);
    bobState = await process(cs, bobState, rm.message);
    expect(Object.keys(aliceState.unappliedProposals)).toEqual([
      Buffer.from(pc.ref).toString("base64"),
    ]);
    const kick = await commit(cs, aliceState);
    const missing = room.checkCommit(kick.commit, kick.groupInfo, [], []);
    expect(missing).toMatchObject({ ok: false, code: "INVALID_COMMIT" });
    const r3 = room.checkCommit(kick.commit, kick.groupInfo, [pc.ref], [rm.bytes]);
    if (!r3.ok) throw new Error(`${r3.code}: ${r3.message}`);
    expect(r3.removedLeaves).toEqual([2]);
    room = r3.next;
    aliceState = kick.state;
    bobState = await process(cs, bobState, kick.commitMessage);
    expect(hex(room.treeHash)).toBe(hex(bobState.groupContext.treeHash));
    expect(room.members().map((m) => m.userId)).toEqual(["alice", "bob"]);

    // Dave joins by external commit.
    const dave = await device(cs, "dave");
    const ext = await externalJoin(cs, dave, bobState);
    const r4 = room.checkExternalCommit(ext.commit, ext.groupInfo);
    if (!r4.ok) throw new Error(`${r4.code}: ${r4.message}`);
    room = r4.next;
    aliceState = await process(cs, aliceState, ext.commitMessage);
    expect(hex(room.treeHash)).toBe(hex(aliceState.groupContext.treeHash));
    expect(hex(room.treeHash)).toBe(hex(ext.state.groupContext.treeHash));
    expect(room.members().map((m) => m.userId)).toEqual(["alice", "bob", "dave"]);

    // Persistence round trip, then a further commit still validates.
    const restored = PublicGroup.decode(room.encode());
    expect(hex(restored.treeHash)).toBe(hex(room.treeHash));
    const again = await commit(cs, aliceState);
    const r5 = restored.checkCommit(again.commit, again.groupInfo, []);
    if (!r5.ok) throw new Error(`${r5.code}: ${r5.message}`);
    expect(hex(r5.treeHash)).toBe(hex(again.state.groupContext.treeHash));
  });
});
