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

function gate(restore?: { voters: readonly string[]; durable: bigint }) {
  const delivered: bigint[] = [];
  const g = new MajorityGate({
    self: "a.example",
    signer,
    deliver: (_t, f) => delivered.push(FrameHeader.view(f).logIndex),
    committed: () => undefined,
    restore: (roomId) => (roomId === ROOM ? restore : undefined),
  });
  return { g, delivered };
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
