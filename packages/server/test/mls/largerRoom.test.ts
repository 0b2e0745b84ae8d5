/**
 * A 40-member room through removals that blank whole subtrees and shrink the tree, adds
 * that fill the gaps (unmerged leaves under existing parents) and commits from a leaf deep
 * on the right: the hub's incremental tree hash and re-encoded tree must match ts-mls's at
 * every epoch, and every GroupInfo must seed an equal fresh view (members and lookups too).
 */
import { toHex as hex } from "@kalandra/proto";
import type { CiphersuiteImpl, ClientState, Proposal } from "ts-mls";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { beforeAll, describe, expect, it } from "vitest";
import { PublicGroup } from "../../src/mls/index.js";
import {
  cast,
  commit,
  createRoom,
  type Device,
  groupInfoBytes,
  type Hub,
  join,
  process,
} from "./mlsClients.js";

const N = 40;

let cs: CiphersuiteImpl;
let hub: Hub;
let devices: Device[];

beforeAll(async () => {
  ({ cs, hub, devices } = await cast(Array.from({ length: N + 8 }, (_, i) => `user-${i}`)));
});

describe("a larger room", () => {
  it("keeps the hub's view equal to the members' through reshaping commits", async () => {
    const d = (i: number) => devices[i] as Device;
    let creator: ClientState = await createRoom(cs, hub, d(0));
    let room = PublicGroup.fromGroupInfo(await groupInfoBytes(cs, creator), hub.publicKey);

    const step = async (state: ClientState, extra: Proposal[], others: ClientState[] = []) => {
      const c = await commit(cs, state, extra);
      const r = room.checkCommit(c.commit, c.groupInfo, []);
      if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
      room = r.next;
      // Members and lookups from leaf facts carried over unchanged leaves equal a fresh view's.
      const fresh = PublicGroup.decode(room.encode());
      expect(room.members()).toEqual(fresh.members());
      for (const m of fresh.members()) {
        expect(room.leafBySenderId(m.senderId)).toBe(m.leafIndex);
        expect(room.leafBySignatureKey(m.signatureKey)).toBe(m.leafIndex);
      }
      expect(hex(room.treeHash)).toBe(hex(c.state.groupContext.treeHash));
      expect(hex(room.treeHash)).toBe(hex(await treeHashRoot(c.state.ratchetTree, cs.hash)));
      expect(hex(PublicGroup.fromGroupInfo(c.groupInfo, hub.publicKey).treeHash)).toBe(
        hex(room.treeHash),
      );
      const processed = [];
      for (const o of others) processed.push(await process(cs, o, c.commitMessage));
      return { c, r, processed };
    };

    // 1. Everyone at once.
    const adds = Array.from({ length: N - 1 }, (_, i) => ({
      proposalType: "add" as const,
      add: { keyPackage: d(i + 1).publicPackage },
    }));
    const s1 = await step(creator, adds);
    creator = s1.c.state;
    let last = await join(cs, d(N - 1), s1.c.welcome as never);
    expect(room.members()).toHaveLength(N);

    // 2. The member on the far right commits (its whole direct path is new).
    const s2 = await step(last, [], [creator]);
    last = s2.c.state;
    creator = s2.processed[0] as ClientState;

    // 3. Remove a block in the middle and the leaves just left of the last one.
    const removed = [8, 9, 10, 11, 12, 13, 14, 15, 33, 34, 35, 36, 37, 38];
    const s3 = await step(
      creator,
      removed.map((removed) => ({ proposalType: "remove" as const, remove: { removed } })),
      [last],
    );
    creator = s3.c.state;
    last = s3.processed[0] as ClientState;
    expect(s3.r.ok && s3.r.removedLeaves).toEqual(removed);

    // 4. Add into the gaps: new leaves become unmerged under the parents above them.
    const s4 = await step(
      creator,
      [N, N + 1, N + 2].map((i) => ({
        proposalType: "add" as const,
        add: { keyPackage: d(i).publicPackage },
      })),
      [last],
    );
    creator = s4.c.state;
    last = s4.processed[0] as ClientState;
    expect(s4.r.ok && s4.r.addedMembers.map((m) => m.leafIndex)).toEqual([8, 9, 10]);

    // 5. Remove the last two members of the right half: it goes blank and is cut.
    const s5 = await step(creator, [
      { proposalType: "remove", remove: { removed: 32 } },
      { proposalType: "remove", remove: { removed: N - 1 } },
    ]);
    creator = s5.c.state;
    expect(creator.ratchetTree.length).toBeLessThanOrEqual(63);

    // 6. A path commit after all of it, and persistence.
    const s6 = await step(creator, []);
    expect(hex(PublicGroup.decode(room.encode()).treeHash)).toBe(
      hex(s6.c.state.groupContext.treeHash),
    );
    expect(room.members()).toHaveLength(N - removed.length + 3 - 2);
  });
});
