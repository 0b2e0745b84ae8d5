/**
 * A room's certificate chain is answered only to hubs that may know the room (issue 18 (f),
 * src/federation/trust/chainAudience.ts): a configured peer outside the room that asks
 * learns nothing, not even that the room exists. Real hub cores linked in memory
 * (threeHubs.ts), D a configured peer with no member in the room.
 */
import { decodePayload, type Frame, hubFrame, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import type { HandoverCertificate, Proposal } from "../../../src/federation/authority/statement.js";
import { chainFor, mayKnowRoom } from "../../../src/federation/trust/chainAudience.js";
import { A, B, C, ROOM, threeHubRoom } from "../threeHubs.js";
import type { Net } from "../twoHubs.js";

const D = "d.example";
const OTHER_ROOM = 0x77n;

function cert(p: Partial<Proposal>): HandoverCertificate {
  const proposal: Proposal = {
    roomId: ROOM,
    term: 1n,
    from: A,
    to: B,
    proposer: A,
    position: 0n,
    lastTerm: 0n,
    voters: [A, B],
    nonce: new Uint8Array(16),
    kind: "planned",
    ...p,
  };
  return { proposal, votes: [] };
}

describe("mayKnowRoom", () => {
  it("names the recorded voters, the authority and every hub a certificate names; nobody else", () => {
    const chain = [cert({}), cert({ term: 2n, from: B, to: C, proposer: C, voters: [B, C] })];
    const a = { voters: ["e.example"], authority: "f.example", chain };
    for (const d of [A, B, C, "e.example", "f.example"]) expect(mayKnowRoom(d, a)).toBe(true);
    expect(mayKnowRoom(D, a)).toBe(false);
    expect(mayKnowRoom(D, { voters: undefined, authority: undefined, chain: [] })).toBe(false);
  });

  it("a refused asker gets UNKNOWN_ROOM, an allowed one the certificates above its term", () => {
    const chain = [cert({}), cert({ term: 2n, proposer: B, from: B, to: A })];
    const a = { voters: [A, B], authority: A, chain };
    expect(chainFor(D, a, 0n, 32)).toMatchObject({ ok: false, refusal: { code: "UNKNOWN_ROOM" } });
    const ok = chainFor(B, a, 1n, 32);
    expect(ok.ok && ok.certs.map((c) => c.proposal.term)).toEqual([2n]);
    const first = chainFor(B, a, 0n, 1);
    expect(first.ok && first.certs.map((c) => c.proposal.term)).toEqual([1n]);
  });
});

/** The TERM_CHAIN answers `from` sent `to`, decoded (the inner frames). */
function chains(net: Net, from: string, to: string): Frame[] {
  const key = net.signers.get(from)!.publicKey;
  return net.log
    .filter((m) => m.from === from && m.to === to)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner)
    .filter((f) => f.header.opcode === Opcode.TERM_CHAIN);
}

describe("TERM_CHAIN_FETCH on real hubs", () => {
  it("a peer outside the room gets the answer of an unknown room; a voter gets the chain", async () => {
    const { net, hubs } = await threeHubRoom({}, [D]);
    const moving = hubs[A]!.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const b = hubs[B]!.hub.federation!;
    const d = net.hub(D).hub.federation!;
    const c = hubs[C]!.hub.federation!;
    const fetch = (roomId: bigint) =>
      hubFrame(net.signers.get(D)!, Opcode.TERM_CHAIN_FETCH, roomId, 0n, { after_term: 0n });

    // D asks B about the room (B sequences it, term 1) and about a room nobody has.
    d.sendHubFrame(B, fetch(ROOM));
    d.sendHubFrame(B, fetch(OTHER_ROOM));
    await net.settle();
    const [known, unknown] = chains(net, B, D).map((f) =>
      decodePayload(Opcode.TERM_CHAIN, f.payload),
    );
    expect(known).toEqual({ certs: [] });
    expect(unknown).toEqual(known);
    expect(b.refused.get("UNKNOWN_ROOM")).toBe(2);
    expect(b.trust.fetches).toMatchObject({ answered: 0, withheld: 2 });

    // C, a voter of the room, asks the same: it gets the certificate of term 1.
    c.sendHubFrame(
      B,
      hubFrame(net.signers.get(C)!, Opcode.TERM_CHAIN_FETCH, ROOM, 0n, { after_term: 0n }),
    );
    await net.settle();
    const [toC] = chains(net, B, C).map((f) => decodePayload(Opcode.TERM_CHAIN, f.payload));
    expect(toC?.certs).toHaveLength(1);
    expect(b.trust.fetches).toMatchObject({ answered: 1, withheld: 2 });
    // The deposed authority A (named by the certificate) may read it too.
    hubs[A]!.hub.federation!.sendHubFrame(
      B,
      hubFrame(net.signers.get(A)!, Opcode.TERM_CHAIN_FETCH, ROOM, 0n, { after_term: 0n }),
    );
    await net.settle();
    expect(chains(net, B, A).map((f) => decodePayload(Opcode.TERM_CHAIN, f.payload).certs)).toEqual(
      [toC?.certs],
    );
  });
});
