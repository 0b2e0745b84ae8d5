/**
 * The authority's majority gate alone (src/federation/majorityGate.ts): after a restart it
 * knows a room again from its recorded voters; a deposed hub delivers nothing it held.
 */
import { createDeviceSigner, encodeFrame, FrameHeader, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { MajorityGate } from "../../src/federation/majorityGate.js";
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
});
