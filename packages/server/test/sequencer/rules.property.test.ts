/**
 * Properties of the sequencer's pure rules (src/sequencer/rules.ts, DESIGN §4, §6,
 * issue 8, issue 11) over random rooms: a small in-memory GroupView whose checks return
 * what the case drew, so each rule is exercised on every combination of membership, epoch,
 * pending removals, bans and check results. rules.test.ts covers the same rules end to end
 * with real ts-mls members.
 */

import type { ProtocolErrorCode } from "@kalandra/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BanList } from "../../src/moderation/bans.js";
import type {
  CheckFailure,
  CommitCheck,
  GroupMember,
  GroupView,
} from "../../src/sequencer/groupView.js";
import type { PendingProposal } from "../../src/sequencer/roomState.js";
import {
  checkEpoch,
  commitCandidates,
  fromCheck,
  isRefusal,
  judgeAppMessage,
  judgeCommit,
  judgeExternalCommit,
  judgeProposal,
  type RoomFacts,
  syncWindow,
} from "../../src/sequencer/rules.js";

const ROOM = 7n;
const key = (n: number) => new Uint8Array(32).fill(n);

/** A group of members 1..n (leaf i-1, user `user<i>`), whose checks answer as drawn. */
class DrawnGroup implements GroupView {
  constructor(
    readonly epoch: bigint,
    private readonly list: GroupMember[],
    private readonly commit: CommitCheck,
    private readonly proposal: ReturnType<GroupView["checkProposal"]>,
  ) {}
  readonly treeHash = new Uint8Array(32);
  members(): GroupMember[] {
    return this.list;
  }
  memberBySenderId(senderId: bigint): GroupMember | undefined {
    return this.list.find((m) => m.senderId === senderId);
  }
  checkProposal() {
    return this.proposal;
  }
  checkCommit(): CommitCheck {
    return this.commit;
  }
  checkExternalCommit(): CommitCheck {
    return this.commit;
  }
  encode(): Uint8Array {
    return new Uint8Array(0);
  }
}

const memberOf = (i: number): GroupMember => ({
  leaf: i - 1,
  senderId: BigInt(i),
  userId: `user${i}`,
  signatureKey: key(i),
});

const failure: fc.Arbitrary<CheckFailure> = fc.record({
  ok: fc.constant(false as const),
  code: fc.constantFrom("INVALID_COMMIT", "MISSING_PROPOSALS", "STALE_EPOCH", "no_such_code"),
  message: fc.constant("drawn"),
});

/** A room: its members, epoch, pending proposals (some removals), bans and check results. */
const roomArb = fc
  .record({
    size: fc.integer({ min: 1, max: 6 }),
    epoch: fc.bigInt({ min: 0n, max: 5n }),
    removals: fc.array(fc.nat(5), { maxLength: 2 }),
    others: fc.nat(2),
    banned: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }),
    added: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }),
    commitOk: fc.boolean(),
    failure,
    proposalType: fc.constantFrom("add", "remove", "update"),
  })
  .map((d) => {
    const members = Array.from({ length: d.size }, (_, i) => memberOf(i + 1));
    const pending: PendingProposal[] = [
      ...d.removals.map((leaf, i) => ({
        ref: new Uint8Array([i]),
        kind: "remove",
        message: new Uint8Array(0),
        proposer: 0n,
        removedLeaf: leaf,
        logIndex: BigInt(i),
      })),
      ...Array.from({ length: d.others }, (_, i) => ({
        ref: new Uint8Array([9, i]),
        kind: "update",
        message: new Uint8Array(0),
        proposer: 1n,
        logIndex: BigInt(10 + i),
      })),
    ];
    const addedMembers = d.added.map(memberOf);
    const bans = new BanList();
    for (const b of d.banned) bans.add({ userId: `user${b}`, scope: "room", roomId: ROOM });
    const commit: CommitCheck = d.commitOk
      ? { ok: true, next: undefined as unknown as GroupView, removedLeaves: [], addedMembers }
      : d.failure;
    const addedUserId = addedMembers[0]?.userId;
    const proposal = {
      ok: true as const,
      ref: new Uint8Array([1]),
      proposal: {
        type: d.proposalType,
        ...(d.proposalType === "add" && addedUserId !== undefined ? { addedUserId } : {}),
      },
    };
    const group = new DrawnGroup(d.epoch, members, commit, proposal);
    const room: RoomFacts = { roomId: ROOM, epoch: d.epoch, group, pending, bans };
    return { room, members, addedMembers, bans, commitOk: d.commitOk, banned: new Set(d.banned) };
  });

const sender = fc.integer({ min: 1, max: 8 }).map(BigInt);
const frameEpoch = fc.bigInt({ min: 0n, max: 6n });

describe("sequencer rules (properties)", () => {
  it("checkEpoch accepts exactly the room's epoch; older is STALE, newer WRONG, both with the room's", () => {
    fc.assert(
      fc.property(frameEpoch, frameEpoch, (f, r) => {
        const v = checkEpoch(f, r);
        if (f === r) expect(v).toBeUndefined();
        else {
          expect(v?.code).toBe(f < r ? "STALE_EPOCH" : "WRONG_EPOCH");
          expect(v?.expectedEpoch).toBe(r);
        }
      }),
    );
  });

  it("an application message is accepted iff from a member, at the epoch, with no removal pending", () => {
    fc.assert(
      fc.property(roomArb, sender, frameEpoch, ({ room, members }, senderId, epoch) => {
        const v = judgeAppMessage(room, { senderId, epoch });
        const member = members.some((m) => m.senderId === senderId);
        const removal = room.pending.some((p) => p.removedLeaf !== undefined);
        if (!member) expect(v?.code).toBe("NOT_MEMBER");
        else if (epoch !== room.epoch) expect(v?.code).toMatch(/^(STALE|WRONG)_EPOCH$/);
        else if (removal) expect(v?.code).toBe("MUST_INCLUDE_PENDING_REMOVALS");
        else expect(v).toBeUndefined();
      }),
    );
  });

  it("an external commit is never accepted while a removal is pending, nor for another device or a banned user", () => {
    fc.assert(
      fc.property(roomArb, sender, fc.boolean(), (drawn, senderId, ownKey) => {
        const { room, addedMembers, banned } = drawn;
        const deviceKey = ownKey ? key(Number(senderId)) : key(99);
        const body = { commit: new Uint8Array(0), group_info: new Uint8Array(0) };
        const v = judgeExternalCommit(room, { senderId, epoch: room.epoch }, body, deviceKey);
        if (isRefusal(v)) return;
        expect(room.pending.some((p) => p.removedLeaf !== undefined)).toBe(false);
        const joiner = addedMembers.find((m) => m.senderId === senderId);
        expect(joiner).toBeDefined();
        expect(ownKey).toBe(true);
        expect(banned.has(Number(senderId))).toBe(false);
        expect(v.welcomeRecipients).toEqual([]);
      }),
    );
  });

  it("a commit is accepted only from a member at the epoch, adds no banned user, and welcomes only listed added devices", () => {
    fc.assert(
      fc.property(
        roomArb,
        sender,
        frameEpoch,
        fc.array(sender, { maxLength: 4 }),
        (drawn, senderId, epoch, listed) => {
          const { room, members, addedMembers, banned } = drawn;
          const body = {
            commit: new Uint8Array(0),
            group_info: new Uint8Array(0),
            welcome_recipients: listed,
          };
          const v = judgeCommit(room, { senderId, epoch }, body);
          if (isRefusal(v)) {
            if (members.some((m) => m.senderId === senderId) && epoch === room.epoch) {
              const addsBanned = addedMembers.some((m) => banned.has(Number(m.senderId)));
              expect(!drawn.commitOk || addsBanned).toBe(true);
            }
            return;
          }
          expect(members.some((m) => m.senderId === senderId)).toBe(true);
          expect(epoch).toBe(room.epoch);
          expect(addedMembers.some((m) => banned.has(Number(m.senderId)))).toBe(false);
          const added = new Set(addedMembers.map((m) => m.senderId));
          for (const r of v.welcomeRecipients) {
            expect(added.has(r)).toBe(true);
            expect(listed).toContain(r);
          }
        },
      ),
    );
  });

  it("a proposal to add a banned user is refused BANNED; others pass with their kind", () => {
    fc.assert(
      fc.property(roomArb, (drawn) => {
        const { room, members, addedMembers, banned } = drawn;
        const h = { senderId: members[0]!.senderId, epoch: room.epoch };
        const v = judgeProposal(room, h, new Uint8Array(0));
        const type = (room.group.checkProposal(new Uint8Array(0)) as { proposal: { type: string } })
          .proposal.type;
        const addsBanned =
          type === "add" &&
          addedMembers[0] !== undefined &&
          banned.has(Number(addedMembers[0].senderId));
        if (addsBanned) expect(isRefusal(v) && v.code).toBe("BANNED");
        else expect(!isRefusal(v) && v.kind).toBe(type);
      }),
    );
  });

  it("a sync page never reaches the durable head and never exceeds the page limit (issue 11)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1000n }),
        fc.integer({ min: -5, max: 600 }),
        fc.bigInt({ min: 0n, max: 1000n }),
        fc.integer({ min: 1, max: 300 }),
        (from, limit, head, pageLimit) => {
          const w = syncWindow(from, limit, head, pageLimit);
          expect(w).toBeGreaterThanOrEqual(0);
          expect(w).toBeLessThanOrEqual(pageLimit);
          if (from < head) expect(from + BigInt(w) <= head).toBe(true);
          else expect(w).toBe(0);
          // Progress: a member behind the head always gets at least one frame.
          if (from < head) expect(w).toBeGreaterThanOrEqual(1);
          expect(w).toBe(
            from < head ? Math.min(Math.max(limit, 1), pageLimit, Number(head - from)) : 0,
          );
        },
      ),
    );
  });

  it("commit requests go only to live members that are not being removed", () => {
    fc.assert(
      fc.property(roomArb, fc.array(fc.integer({ min: 1, max: 8 })), ({ room, members }, live) => {
        const liveSet = new Set(live.map(BigInt));
        const asked = commitCandidates(room.group, room.pending, (s) => liveSet.has(s));
        const removed = new Set(room.pending.map((p) => p.removedLeaf));
        for (const s of asked) {
          const m = members.find((x) => x.senderId === s);
          expect(m).toBeDefined();
          expect(liveSet.has(s)).toBe(true);
          expect(removed.has(m!.leaf)).toBe(false);
        }
        const expected = members.filter((m) => liveSet.has(m.senderId) && !removed.has(m.leaf));
        expect(asked).toHaveLength(expected.length);
      }),
    );
  });

  it("a failed check keeps a protocol code, falls back otherwise, and STALE_EPOCH names an epoch", () => {
    fc.assert(
      fc.property(
        failure,
        fc.option(fc.bigInt({ min: 0n, max: 9n })),
        frameEpoch,
        (f, exp, epoch) => {
          const check = exp === null ? f : { ...f, expected: exp };
          const r = fromCheck(check, "INVALID_PROPOSAL", epoch);
          const code: ProtocolErrorCode =
            f.code === "no_such_code" ? "INVALID_PROPOSAL" : (f.code as ProtocolErrorCode);
          expect(r.code).toBe(code);
          if (code === "STALE_EPOCH") expect(r.expectedEpoch).toBe(exp ?? epoch);
          else expect(r.expectedEpoch).toBe(exp ?? undefined);
        },
      ),
    );
  });
});
