/**
 * A hub taking a room over promises no higher term on the way (issue 18 (a);
 * src/federation/roomTransfers.ts): a hub that won a failover and is still installing the
 * room, or that a planned transfer names, refuses another voter's higher term; and a
 * certificate that forms for a term below one the hub promised since is given up.
 * Otherwise it could sequence in its own term after promising a higher term's candidate its
 * log as it was, and count itself towards a commit point that candidate's log lacks.
 */
import { decodePayload, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { certFrame, certOf, proposeFrame } from "../../src/federation/authority/authorityFrames.js";
import type { Proposal } from "../../src/federation/authority/statement.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, FAILOVER_MS, holdLocal, ROOM, threeHubRoom, votes } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** C, its link to the room's authority down, proposes itself for `term` to B. */
function cProposes(net: Net, term: bigint, lastTerm = 0n): void {
  const c = net.hub(C);
  const p: Proposal = {
    roomId: ROOM,
    term,
    from: A,
    to: C,
    proposer: C,
    position: c.storage.nextIndex(ROOM),
    lastTerm,
    voters: [A, B, C],
    nonce: new Uint8Array(16).fill(Number(term)),
    kind: "failover",
  };
  c.hub.federation!.sendHubFrame(B, proposeFrame(net.signers.get(C)!, p));
}

/** A's HANDOVER_CERT frames to `to` so far, decoded. */
function certsFromA(net: Net, to: string): ReturnType<typeof certOf>[] {
  const key = net.signers.get(A)!.publicKey;
  return net.log
    .filter((m) => m.from === A && m.to === to)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner)
    .filter((f) => f.header.opcode === Opcode.HANDOVER_CERT)
    .map((f) => certOf(decodePayload(Opcode.HANDOVER_CERT, f.payload)));
}

/** `from`'s AUTHORITY_PROPOSE frames so far (to anyone). */
function proposalsFrom(net: Net, from: string): number {
  const key = net.signers.get(from)!.publicKey;
  return net.log
    .filter((m) => m.from === from)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner)
    .filter((f) => f.header.opcode === Opcode.AUTHORITY_PROPOSE).length;
}

/** Drops A's HANDOVER_CERT frames to B while `on()` holds. */
function certsToBLost(net: Net, on: () => boolean): void {
  net.tamper = (m) => {
    if (!on() || m.from !== A || m.to !== B) return m;
    const inner = openEnvelope(m.bytes, net.signers.get(A)!.publicKey, { maxHops: 3 }).inner;
    return inner.header.opcode === Opcode.HANDOVER_CERT ? undefined : m;
  };
}

const setup = { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS } as const;

describe("a hub taking a room promises no higher term", () => {
  it("a hub that won a failover and is still installing the room refuses a higher term", async () => {
    const { net, hubs, bob } = await threeHubRoom({ setup });
    const fb = hubs[B]!.hub.federation!;
    const install = holdLocal(hubs[B]!, "installRoom");
    await net.crash(A);
    // Only B's failover timer runs: B proposes term 1, C votes, B installs the room.
    for (let step = 0; step < 400 && !install.entered; step++) {
      net.time.advance(FAILOVER_MS / 20);
      fb.tick();
      await net.settle();
    }
    expect(install.entered).toBe(true);
    cProposes(net, 2n);
    await net.settle();
    expect(votes(net, B, C).filter((v) => v.term === 2n)).toMatchObject([
      { approve: false, refusal: "STALE_TERM" },
    ]);
    expect(hubs[B]!.storage.readAudit().filter((r) => r.detail.event === "vote")).toEqual([]);
    install.release();
    await net.settle();
    expect(fb.roomAuthority(ROOM)).toMatchObject({ authority: B, term: 1n, role: "sequencer" });
    const sent = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    expect(sent.error?.name ?? sent.opcode).toBe(Opcode.ACK);
  });

  it("a hub a planned transfer names refuses a higher term while the transfer may still complete", async () => {
    const { net, hubs } = await threeHubRoom({ setup });
    certsToBLost(net, () => true);
    const moving = hubs[A]!.hub.federation!.transfer(ROOM, B);
    await net.settle();
    cProposes(net, 2n);
    await net.settle();
    expect(votes(net, B, C).filter((v) => v.term === 2n)).toMatchObject([
      { approve: false, refusal: "STALE_TERM" },
    ]);
    net.tamper = undefined;
    net.time.advance(1000);
    hubs[A]!.hub.federation!.tick();
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(hubs[B]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: B,
      term: 1n,
      role: "sequencer",
    });
  });

  it("a planned transfer's new authority that has the certificate without the handover waits for it: it proposes no failover against itself", async () => {
    const { net, hubs, bob } = await threeHubRoom({ setup });
    certsToBLost(net, () => true);
    const moving = hubs[A]!.hub.federation!.transfer(ROOM, B);
    await net.settle();
    // The certificate alone reaches B (as C gets it): B adopts it, and cannot install.
    const [cert] = certsFromA(net, C);
    net.tamper = undefined;
    hubs[A]!.hub.federation!.sendHubFrame(B, certFrame(net.signers.get(A)!, cert!.cert));
    await net.settle();
    const fb = hubs[B]!.hub.federation!;
    expect(fb.roomAuthority(ROOM)).toMatchObject({ authority: B, role: "awaiting_handover" });
    const proposed = proposalsFrom(net, B);
    for (let step = 0; step < 40; step++) {
      net.time.advance(FAILOVER_MS / 10);
      fb.tick();
      hubs[C]!.hub.federation!.tick();
      await net.settle();
    }
    expect(proposalsFrom(net, B)).toBe(proposed);
    // A's resends carry the handover: B installs the room in term 1.
    net.time.advance(1000);
    hubs[A]!.hub.federation!.tick();
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(fb.roomAuthority(ROOM)).toMatchObject({ authority: B, term: 1n, role: "sequencer" });
    const sent = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    expect(sent.error?.name ?? sent.opcode).toBe(Opcode.ACK);
  });

  it("the hub handing a room over sends its certificate to the new authority only with the handover", async () => {
    const { net, hubs } = await threeHubRoom({ setup });
    const fa = hubs[A]!.hub.federation!;
    const settle = holdLocal(hubs[A]!, "settle");
    const moving = fa.transfer(ROOM, B);
    await net.settle();
    expect(settle.entered).toBe(true);
    // Its shards drain slowly: the resend is due before the handover is read.
    for (let step = 0; step < 5; step++) {
      net.time.advance(1000);
      fa.tick();
      await net.settle();
    }
    expect(certsFromA(net, B)).toEqual([]);
    settle.release();
    await net.settle();
    expect(certsFromA(net, B).every((c) => c.handover !== undefined)).toBe(true);
    expect(await moving).toEqual({ ok: true, term: 1n });
  });
});
