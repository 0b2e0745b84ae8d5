/**
 * A hub believes a higher term of a room only on a certificate chain it can verify (DESIGN
 * §11, issue 18 (e); src/federation/trust/): three real hub cores linked in memory
 * (threeHubs.ts). B is a configured peer and a voter of the room A sequences; here it
 * lies about the room's term, and C must keep A as the room's authority.
 */
import {
  type DeviceSigner,
  hubFrame,
  Opcode,
  openEnvelope,
  sealEnvelope,
  signPosition,
  stampSequence,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { certFrame, certToWire } from "../../src/federation/authority/authorityFrames.js";
import {
  type HandoverCertificate,
  type Proposal,
  proposalHash,
  signVote,
} from "../../src/federation/authority/statement.js";
import { STRIKE_LIMIT } from "../../src/federation/trust/termFetch.js";
import { type Client, frameOf, makeClient } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, addMembers, B, C, headers, ROOM, threeHubRoom, uploadKeyPackage } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

const D = "d.example";

/** A certificate B makes alone: it lists itself as the only voter and signs it. */
function selfMade(signer: DeviceSigner, term = 1n): HandoverCertificate {
  const proposal: Proposal = {
    roomId: ROOM,
    term,
    from: A,
    to: B,
    proposer: B,
    position: 3n,
    lastTerm: 0n,
    voters: [B],
    nonce: new Uint8Array(16).fill(7),
    kind: "failover",
  };
  return { proposal, votes: [signVote(B, proposalHash(proposal), signer)] };
}

/** B presents a frame of the room as sequenced by itself in `term`, at C's next index. */
function forgedSequenced(net: Net, bob: Client, term: bigint, text = "forged"): Uint8Array {
  const signer = net.signers.get(B)!;
  const frame = appMessage(bob, ROOM, 1n, text);
  stampSequence(frame, net.hub(C).storage.nextIndex(ROOM), 1n);
  return sealEnvelope(signer, {
    origin: B,
    forwardedAt: 0n,
    hops: 1,
    frame,
    term,
    positionSig: signPosition(signer, term, frame),
    to: [],
  });
}

/** The inner opcodes `from` sent `to` over their link. */
function sent(net: Net, from: string, to: string): number[] {
  const key = net.signers.get(from)!.publicKey;
  return net.log
    .filter((m) => m.from === from && m.to === to)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode);
}

describe("a higher term is believed only on a verified certificate chain", () => {
  it("a peer's frame in a higher term without a certificate is held, its chain asked, and refused: typed, counted, struck; the room keeps its authority", async () => {
    const { net, hubs, bob, carol } = await threeHubRoom();
    const c = hubs[C]!.hub.federation!;
    const before = headers(hubs[C]!);
    c.linkFrame(B, forgedSequenced(net, bob, 1n));
    await net.settle();
    // C asked B for the chain; B (honest code) holds no certificate of term 1: none comes.
    expect(sent(net, C, B)).toContain(Opcode.TERM_CHAIN_FETCH);
    expect(sent(net, B, C)).toContain(Opcode.TERM_CHAIN);
    expect(c.refused.get("UNVERIFIED_TERM")).toBe(1);
    expect(c.trust.strikes(B)).toBe(1);
    expect(c.trust.holding).toBe(0);
    expect(c.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
    expect(c.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n, role: "replica" });
    expect(headers(hubs[C]!)).toEqual(before);
    // C's users still write through A, and C's replica follows A.
    const ok = await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "still A"));
    expect(ok.opcode).toBe(Opcode.ACK);
    expect(headers(hubs[C]!)).toEqual(headers(hubs[A]!));
  });

  it("a certificate whose voter list is only its maker is refused, pushed (HANDOVER_CERT) or fetched (TERM_CHAIN)", async () => {
    const { net, hubs, bob } = await threeHubRoom();
    const c = hubs[C]!.hub.federation!;
    const b = hubs[B]!.hub.federation!;
    const signer = net.signers.get(B)!;
    const forged = selfMade(signer);
    // Pushed: a certificate that proves itself (a majority of its one voter) but not to C.
    b.sendHubFrame(C, certFrame(signer, forged));
    await net.settle();
    expect(c.refused.get("UNVERIFIED_TERM")).toBe(1);
    expect(c.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
    // Fetched: B's honest answer is lost, B's forged chain comes instead.
    net.tamper = (m) =>
      m.from === B && m.to === C && sent(net, B, C).length > 0 && isChain(net, m.bytes)
        ? undefined
        : m;
    c.linkFrame(B, forgedSequenced(net, bob, 1n));
    await net.settle();
    net.tamper = undefined;
    const chain = hubFrame(signer, Opcode.TERM_CHAIN, ROOM, 0n, { certs: [certToWire(forged)] });
    b.sendHubFrame(C, chain);
    await net.settle();
    expect(c.refused.get("UNVERIFIED_TERM")).toBe(2);
    expect(c.trust.strikes(B)).toBe(1);
    expect(c.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n, role: "replica" });
    // Nothing of term 1 was recorded: no term record, no audit of a transfer.
    const audit = hubs[C]!.storage.readAudit().filter((r) => r.kind === "federation_term");
    expect(audit).toEqual([]);
  });

  it(`after ${STRIKE_LIMIT} strikes a peer's higher terms are dropped without asking`, async () => {
    const { net, hubs, bob } = await threeHubRoom();
    const c = hubs[C]!.hub.federation!;
    for (let i = 0; i < STRIKE_LIMIT; i++) {
      c.linkFrame(B, forgedSequenced(net, bob, 1n, `forged ${i}`));
      await net.settle();
    }
    const asked = sent(net, C, B).filter((o) => o === Opcode.TERM_CHAIN_FETCH).length;
    expect(asked).toBe(STRIKE_LIMIT);
    c.linkFrame(B, forgedSequenced(net, bob, 2n, "again"));
    await net.settle();
    expect(sent(net, C, B).filter((o) => o === Opcode.TERM_CHAIN_FETCH)).toHaveLength(asked);
    expect(c.refused.get("UNVERIFIED_TERM")).toBe(STRIKE_LIMIT + 1);
    expect(c.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
  });

  it("a voter cut off during a planned transfer learns the new term from the new authority's chain, then follows it", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    net.link(A, C, false);
    net.link(B, C, false);
    // A and B are a majority of the three voters: the room moves without C hearing of it.
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const b1 = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "b in term 1"));
    expect(b1.opcode).toBe(Opcode.ACK);
    expect(c.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
    net.link(A, C);
    net.link(B, C);
    // B's next frame reaches C in term 1: C holds it, fetches the chain, believes it.
    const a2 = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "a in term 1"));
    expect(a2.opcode).toBe(Opcode.ACK);
    await net.settle();
    expect(sent(net, C, B)).toContain(Opcode.TERM_CHAIN_FETCH);
    const fc = c.hub.federation!;
    expect(fc.book.authorityOf(ROOM)).toEqual({ domain: B, term: 1n });
    expect(fc.roomAuthority(ROOM)).toMatchObject({ authority: B, term: 1n, role: "replica" });
    expect(fc.refused.get("UNVERIFIED_TERM")).toBeUndefined();
    expect(fc.trust.strikes(B)).toBe(0);
    expect(headers(c)).toEqual(headers(b));
    // The certificate is persisted in C's audit chain (it can serve it on in turn).
    const transfer = c.storage
      .readAudit()
      .filter((r) => r.kind === "federation_term" && r.detail.event === "transfer");
    expect(transfer.map((r) => r.detail.to)).toEqual([B]);
  });
});

function isChain(net: Net, bytes: Uint8Array): boolean {
  const key = net.signers.get(B)!.publicKey;
  return openEnvelope(bytes, key, { maxHops: 3 }).inner.header.opcode === Opcode.TERM_CHAIN;
}

describe("a hub that joins the room after a transfer", () => {
  it("learns the term chain from the authority that welcomed its user, and follows it", async () => {
    const { net, hubs, bob } = await threeHubRoom({}, [D]);
    const [a, b, d] = [hubs[A]!, hubs[B]!, net.hub(D)];
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    // bob@b adds dave@d: D's first frames of the room come from B, in term 1.
    const dave = await makeClient(d, `dave@${D}`);
    await uploadKeyPackage(net, d, dave);
    const claim = frameOf(bob, Opcode.KP_CLAIM, 0n, 0n, { user_id: `dave@${D}` });
    expect((await sendVia(net, b, bob, claim)).opcode).toBe(Opcode.KP_CLAIMED);
    await addMembers(net, b, bob, 1n, [dave]);
    const said = await sendVia(net, b, bob, appMessage(bob, ROOM, 2n, "hello dave"));
    expect(said.opcode).toBe(Opcode.ACK);
    await net.settle();
    const fd = d.hub.federation!;
    expect(sent(net, D, B)).toContain(Opcode.TERM_CHAIN_FETCH);
    expect(fd.book.authorityOf(ROOM)).toEqual({ domain: B, term: 1n });
    expect(fd.roomAuthority(ROOM)).toMatchObject({ authority: B, term: 1n, role: "replica" });
    expect(fd.refused.get("UNVERIFIED_TERM")).toBeUndefined();
    // D holds the room's log from B (caught up from where it came in), and the chain.
    expect(headers(d)).toEqual(headers(b));
    const chain = d.storage.readAudit().filter((r) => r.kind === "federation_term");
    expect(chain.map((r) => [r.detail.event, r.detail.to])).toEqual([["transfer", B]]);
  });
});
