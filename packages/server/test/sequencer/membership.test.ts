/**
 * The one membership check of a member's frame (rules.ts `checkMember`), run by the room's
 * rules for sequenced frames and syncs and by the shard for ephemeral relays: a member of
 * the current tree, signing with its leaf key. Property-based over drawn trees and keys.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GroupMember, GroupView } from "../../src/sequencer/groupView.js";
import { checkMember } from "../../src/sequencer/rules.js";

const key = (n: number) => new Uint8Array(32).fill(n);

/** A tree of the drawn members (sender ids 1..n, leaf key `key(i)`). */
function tree(n: number): Pick<GroupView, "memberBySenderId"> {
  const members: GroupMember[] = Array.from({ length: n }, (_, i) => ({
    leaf: i,
    senderId: BigInt(i + 1),
    userId: `user${i + 1}`,
    signatureKey: key(i + 1),
  }));
  return { memberBySenderId: (s) => members.find((m) => m.senderId === s) };
}

describe("checkMember", () => {
  it("admits a member signing with its leaf key; refuses outsiders and other keys", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 10 }),
        fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
        (n, sender, keyOf) => {
          const room = { group: tree(n) as GroupView };
          const deviceKey = keyOf === undefined ? undefined : key(keyOf);
          const r = checkMember(room, BigInt(sender), deviceKey);
          if (sender > n) expect(r?.code).toBe("NOT_MEMBER");
          else if (keyOf !== undefined && keyOf !== sender) expect(r?.code).toBe("BAD_SIGNATURE");
          else expect(r).toBeUndefined();
        },
      ),
    );
  });
});
