/**
 * The authority's majority gate alone (src/federation/majorityGate.ts): after a restart it
 * knows a room again from its recorded voters; a deposed hub delivers nothing it held.
 */
import { createDeviceSigner, encodeFrame, FrameHeader, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { clipPage, MajorityGate } from "../../src/federation/majorityGate.js";
import type { Target } from "../../src/vocabulary/target.js";

const ROOM = 7n;
const VOTERS = ["a.example", "b.example", "c.example"];
const signer = createDeviceSigner(new Uint8Array(32).fill(9));

function entry(logIndex: bigint): Uint8Array {
  return encodeFrame({
    opcode: Opcode.APP_MESSAGE,
    requestId: Number(logIndex) + 1,
    roomId: ROOM,
    senderId: 5n,
    logIndex,
    epoch: 1n,
    payload: new Uint8Array([1]),
  });
}

function gate(
  restore?: { voters: readonly string[]; durable: bigint },
  term = { term: 0n, start: 0n },
  known = 0n,
) {
  const delivered: bigint[] = [];
  const nudged: bigint[] = [];
  const g = new MajorityGate({
    self: "a.example",
    signer,
    termStart: () => term,
    known: () => known,
    nudge: (roomId) => nudged.push(roomId),
    deliver: (_t, f) => delivered.push(FrameHeader.view(f).logIndex),
    committed: () => undefined,
    restore: (roomId) => (roomId === ROOM ? restore : undefined),
  });
  return { g, delivered, term, nudged };
}

const members: Target = { kind: "members", roomId: ROOM, senderIds: [6n] };

describe("MajorityGate", () => {
  it("after a restart, gates a room it sequences from its recorded voters (commit point 0)", () => {
    const { g, delivered } = gate({ voters: VOTERS, durable: 3n });
    expect(g.hold(members, entry(2n))).toBe(true);
    g.replicated(ROOM, "b.example", 3n);
    expect(delivered).toEqual([2n]);
    expect(g.commit(ROOM)).toBe(3n);
  });

  it("counts a voter's report only from where its term starts: an earlier term's entry is committed with the term's starting log (Raft's Figure 8)", () => {
    // Taken in term 4 with a log of 3 entries; the last (index 2) is of an earlier term.
    const { g, delivered } = gate(undefined, { term: 4n, start: 3n });
    g.sequenced(ROOM, VOTERS, 3n);
    expect(g.hold(members, entry(2n))).toBe(true);
    // b holds index 2 but has not reached the term's start: it may still vote for a
    // candidate of an earlier term whose log conflicts, so index 2 is not committed.
    g.replicated(ROOM, "b.example", 2n);
    expect(delivered).toEqual([]);
    expect(g.commit(ROOM)).toBe(0n);
    // c reached the start (its log is this term's starting log): a majority, a and c.
    g.replicated(ROOM, "c.example", 3n);
    expect(delivered).toEqual([2n]);
    expect(g.commit(ROOM)).toBe(3n);
  });

  it("forgets an earlier term's reports when the hub takes the room again in a higher term", () => {
    const five = [...VOTERS, "d.example", "e.example"];
    const { g, delivered, term } = gate(undefined, { term: 1n, start: 0n });
    g.sequenced(ROOM, five, 3n);
    expect(g.hold(members, entry(2n))).toBe(true);
    g.replicated(ROOM, "b.example", 3n); // a and b: no majority of five
    expect(g.commit(ROOM)).toBe(0n);
    // A reclaim: term 2 starts at 3. b's report was of term 1: b has not recorded term 2.
    Object.assign(term, { term: 2n, start: 3n });
    g.sequenced(ROOM, five, 4n);
    g.replicated(ROOM, "c.example", 3n);
    expect(delivered).toEqual([]);
    expect(g.commit(ROOM)).toBe(0n);
    g.replicated(ROOM, "d.example", 3n);
    expect(delivered).toEqual([2n]);
    expect(g.commit(ROOM)).toBe(3n);
  });

  it("handing the room over, releases what it held once the successor commits it, not before; a later term drops it", () => {
    const { g, delivered } = gate(undefined, { term: 1n, start: 0n });
    g.sequenced(ROOM, VOTERS, 3n);
    for (const i of [0n, 1n, 2n]) expect(g.hold(members, entry(i))).toBe(true);
    g.replicated(ROOM, "b.example", 1n);
    expect(delivered).toEqual([0n]);
    g.handedOver(ROOM, 2n);
    // Reports to a hub that no longer sequences the room count nothing; nothing new is held.
    g.replicated(ROOM, "c.example", 3n);
    expect(delivered).toEqual([0n]);
    expect(g.hold(members, entry(5n))).toBe(false);
    expect(g.commit(ROOM)).toBeUndefined();
    g.told(ROOM, 1n, 3n); // an older term's word says nothing
    g.told(ROOM, 2n, 2n);
    expect(delivered).toEqual([0n, 1n]);
    g.told(ROOM, 3n, 3n); // a later term than the successor's: its log may not hold index 2
    g.told(ROOM, 2n, 3n);
    expect(delivered).toEqual([0n, 1n]);
  });

  it("a new authority's commit point starts at what it knew committed as a replica, at most its log", () => {
    const { g, delivered } = gate(undefined, { term: 2n, start: 4n }, 3n);
    g.sequenced(ROOM, VOTERS, 5n);
    expect(g.commit(ROOM)).toBe(3n);
    expect(g.hold(members, entry(2n))).toBe(false);
    expect(g.hold(members, entry(3n))).toBe(true);
    expect(delivered).toEqual([]);
    const restarted = gate({ voters: VOTERS, durable: 2n }, { term: 2n, start: 2n }, 9n);
    expect(restarted.g.commit(ROOM)).toBe(2n);
  });

  it("asks the voters to report once its commit point has lagged its log for a while without moving, again as long as it does", () => {
    const { g, nudged } = gate({ voters: VOTERS, durable: 3n });
    expect(g.commit(ROOM)).toBe(0n); // restarted: known again, nothing reported yet
    g.tick(0n, 1000);
    g.tick(999n, 1000);
    expect(nudged).toEqual([]);
    g.tick(1000n, 1000);
    expect(nudged).toEqual([ROOM]);
    g.tick(1500n, 1000);
    g.tick(2000n, 1000);
    expect(nudged).toEqual([ROOM, ROOM]);
    // A report moves the commit point (still lagging): the wait starts again.
    g.replicated(ROOM, "b.example", 2n);
    g.tick(2500n, 1000);
    g.tick(3000n, 1000);
    expect(nudged).toEqual([ROOM, ROOM]);
    // Caught up: nothing to ask.
    g.replicated(ROOM, "b.example", 3n);
    g.tick(5000n, 1000);
    g.tick(9000n, 1000);
    expect(nudged).toEqual([ROOM, ROOM]);
  });

  it("holds nothing of a room that is not federated", () => {
    const { g } = gate(undefined);
    expect(g.hold(members, entry(0n))).toBe(false);
  });

  it("a deposed hub never delivers what it held, whatever is reported later", () => {
    const { g, delivered } = gate(undefined);
    g.sequenced(ROOM, VOTERS, 1n);
    expect(g.hold(members, entry(0n))).toBe(true);
    g.drop(ROOM);
    g.replicated(ROOM, "b.example", 1n);
    g.replicated(ROOM, "c.example", 1n);
    expect(delivered).toEqual([]);
  });

  it("a clipped page is clipped no further: the hub's sink passes it through the gate again (fed_hubs_failover seed 474: a page asked from past the commit point recursed until the stack overflowed)", () => {
    const header = (i: bigint) => entry(i).subarray(0, 128);
    const page = {
      entries: [10n, 11n].map((i) => ({ header: header(i), payload: new Uint8Array([1]) })),
      next: 12n,
      head: 12n,
    };
    // A restarted authority: commit point 0 until the replicas report; a device asks from 10.
    const once = clipPage(page, 0n);
    expect(once).toMatchObject({ entries: [], next: 10n, head: 10n });
    expect(clipPage(once!, 0n)).toBeUndefined();
    // Partly committed: the entries below the commit point stay, once.
    const part = clipPage(page, 11n);
    expect(part?.entries.length).toBe(1);
    expect(part).toMatchObject({ next: 11n, head: 11n });
    expect(clipPage(part!, 11n)).toBeUndefined();
  });
});
