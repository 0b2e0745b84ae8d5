/**
 * Property: whatever sequence of adds, removes, path updates, hub kicks and external joins
 * real ts-mls clients go through, the hub accepts each commit, and its tree hash equals every
 * member's at every epoch (DESIGN §8: all members of an epoch agree on its tree hash). Each
 * epoch's GroupInfo also seeds a fresh view (parent hashes with unmerged leaves) and the view
 * survives encode/decode.
 */
import { toHex as hex } from "@kalandra/proto";
import fc from "fast-check";
import type { CiphersuiteImpl, ClientState, MLSMessage } from "ts-mls";
import { treeHashRoot } from "ts-mls/treeHash.js";
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

type Op =
  | { kind: "add"; by: number; count: number }
  | { kind: "remove"; by: number; target: number }
  | { kind: "update"; by: number }
  | { kind: "kick"; by: number; target: number }
  | { kind: "join" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("add" as const),
    by: fc.nat(),
    count: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant("remove" as const), by: fc.nat(), target: fc.nat() }),
  fc.record({ kind: fc.constant("update" as const), by: fc.nat() }),
  fc.record({ kind: fc.constant("kick" as const), by: fc.nat(), target: fc.nat() }),
  fc.record({ kind: fc.constant("join" as const) }),
);

let cs: CiphersuiteImpl;
let hub: Hub;

beforeAll(async () => {
  ({ cs, hub } = await cast([]));
});

const tally = { commits: 0, kicks: 0, joins: 0, maxMembers: 0 };

async function run(ops: Op[]): Promise<void> {
  let serial = 0;
  const creator = await device(cs, `u${serial++}`);
  const first = await createRoom(cs, hub, creator);
  let room = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, first), hub.publicKey);
  let members = new Map<number, ClientState>([[0, first]]);
  const devices = new Map<string, Device>();

  const pick = (n: number, exclude?: number): number | undefined => {
    const leaves = [...members.keys()].filter((l) => l !== exclude);
    return leaves.length === 0 ? undefined : leaves[n % leaves.length];
  };

  for (const op of ops) {
    let commitMessage: MLSMessage;
    let committer: number;
    let newCommitterState: ClientState;
    let welcome: MLSMessage | undefined;
    let check: ReturnType<PublicGroup["checkCommit"]>;
    if (op.kind === "join") {
      const d = await device(cs, `u${serial++}`);
      const ext = await externalJoin(cs, d, [...members.values()][0] as ClientState);
      check = room.checkExternalCommit(ext.commit, ext.groupInfo);
      if (!check.ok) throw new Error(`join: ${check.code} ${check.message}`);
      commitMessage = ext.commitMessage;
      committer = check.committerLeaf;
      newCommitterState = ext.state;
    } else {
      committer = pick(op.by) as number;
      let state = members.get(committer) as ClientState;
      const refs: Uint8Array[] = [];
      const msgs: Uint8Array[] = [];
      const extra = [];
      if (op.kind === "add") {
        for (let i = 0; i < op.count; i++) {
          const d = await device(cs, `u${serial++}`);
          devices.set(d.name, d);
          extra.push({ proposalType: "add" as const, add: { keyPackage: d.publicPackage } });
        }
      } else if (op.kind === "remove" || op.kind === "kick") {
        const target = pick(op.target, committer);
        if (target === undefined) continue;
        if (op.kind === "remove")
          extra.push({ proposalType: "remove" as const, remove: { removed: target } });
        else {
          const rm = await hubRemove(cs, hub, state, target);
          const pc = room.checkProposal(rm.bytes);
          if (!pc.ok) throw new Error(`kick proposal: ${pc.message}`);
          refs.push(pc.ref);
          msgs.push(rm.bytes);
          for (const [leaf, s] of members) members.set(leaf, await process(cs, s, rm.message));
          state = members.get(committer) as ClientState;
        }
      }
      const c = await commit(cs, state, extra);
      check = room.checkCommit(c.commit, c.groupInfo, refs, msgs);
      if (!check.ok) throw new Error(`${op.kind}: ${check.code} ${check.message}`);
      commitMessage = c.commitMessage;
      newCommitterState = c.state;
      welcome = c.welcome;
      // A fresh view from this epoch's GroupInfo agrees with the incremental one.
      const fresh = PublicGroup.fromGroupInfo(c.groupInfo, hub.publicKey);
      expect(hex(fresh.treeHash)).toBe(hex(check.treeHash));
    }
    const next = new Map<number, ClientState>();
    for (const [leaf, s] of members) {
      if (leaf === committer) continue;
      if (check.removedLeaves.includes(leaf)) continue;
      next.set(leaf, await process(cs, s, commitMessage));
    }
    next.set(committer, newCommitterState);
    for (const m of check.addedMembers) {
      if (m.leafIndex === committer) continue;
      next.set(m.leafIndex, await join(cs, devices.get(m.userId) as Device, welcome as MLSMessage));
    }
    members = next;
    tally.commits++;
    if (op.kind === "kick") tally.kicks++;
    if (op.kind === "join") tally.joins++;
    tally.maxMembers = Math.max(tally.maxMembers, members.size);
    room = PublicGroup.decode(check.next.encode());
    expect(room.epoch).toBe(check.next.epoch);
    expect(
      room
        .members()
        .map((m) => m.leafIndex)
        .sort(),
    ).toEqual([...members.keys()].sort());
    for (const s of members.values()) {
      expect(hex(s.groupContext.treeHash)).toBe(hex(room.treeHash));
      expect(hex(await treeHashRoot(s.ratchetTree, cs.hash))).toBe(hex(room.treeHash));
    }
  }
}

describe("members and hub agree", () => {
  it("on the tree hash after any sequence of commits", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), (ops) => run(ops)),
      { numRuns: 12, seed: 20261123, endOnFailure: true },
    );
    // The property really exercised every kind of commit.
    expect(tally.commits).toBeGreaterThan(20);
    expect(tally.kicks).toBeGreaterThan(0);
    expect(tally.joins).toBeGreaterThan(0);
    expect(tally.maxMembers).toBeGreaterThan(4);
  });
});
