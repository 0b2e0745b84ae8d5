/**
 * Failover of a room's authority between real hubs (DESIGN §11, issue 18;
 * src/federation/roomTransfers.ts, failover.ts): the authority's hub stops, a voter takes
 * the room over after `failover_after_ms`, and the deposed hub, back, follows the new term.
 */
import { FrameHeader, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { answerTo, type Env } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, FAILOVER_MS, failover, headers, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** The sequenced copies from `from` (envelopes with a position) are lost on their way. */
function dropSequencedFrom(net: Net, from: string): void {
  net.tamper = (m) => {
    if (m.from !== from) return m;
    const key = net.signers.get(from)!.publicKey;
    const { envelope } = openEnvelope(m.bytes, key, { maxHops: 3 });
    return envelope.position_sig === undefined ? m : undefined;
  };
}

describe("failover of a room's authority between real hubs", () => {
  it("majority: the authority stops, a voter takes over, nothing acknowledged is lost, the old one comes back as a replica", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const acked: { sender: bigint; requestId: number; index: bigint }[] = [];
    const note = (a: Awaited<ReturnType<typeof sendVia>>, sender: bigint) => {
      expect(a.error?.name ?? a.opcode).toBe(Opcode.ACK);
      acked.push({ sender, requestId: a.frame.header.requestId, index: a.frame.header.logIndex });
    };
    note(await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1")), bob.senderId);
    note(await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "a1")), alice.senderId);
    // A sequences one more entry no replica receives: never acknowledged (majority).
    dropSequencedFrom(net, A);
    const lost = appMessage(alice, ROOM, 1n, "a2");
    await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, lost);
    await net.settle();
    expect(answerTo(hubs[A]!, alice, FrameHeader.view(lost).requestId)).toBeUndefined();
    const aHead = hubs[A]!.storage.nextIndex(ROOM);
    net.tamper = undefined;
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    const w = hubs[winner]!;
    expect(w.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: winner,
      term: 1n,
      role: "sequencer",
    });
    // Writes go on at the new authority, from both remaining hubs.
    note(await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b2")), bob.senderId);
    note(await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1")), carol.senderId);
    await net.settle();
    // Every acknowledged entry is at its index, from its sender, on the new authority.
    const log = w.storage.readRange(ROOM, 0n, 1000);
    for (const x of acked) {
      const h = FrameHeader.view(log[Number(x.index)]!.header);
      expect([h.senderId, h.requestId]).toEqual([x.sender, x.requestId]);
    }
    expect(headers(hubs[B]!)).toEqual(headers(hubs[C]!));
    // A comes back: it learns term 1, gives up its unacknowledged tail (erased), follows.
    await net.restart(A);
    hubs[A]!.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);
    await net.settle();
    const a = hubs[A]!.hub.federation!;
    expect(a.roomAuthority(ROOM)).toMatchObject({ authority: winner, term: 1n, role: "replica" });
    const events = hubs[A]!.storage.readAudit().map((r) => r.detail.event);
    expect(events).toContain("deposed");
    expect(events).toContain("tail_discarded");
    note(await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "a3")), alice.senderId);
    await net.settle();
    expect(headers(hubs[A]!)).toEqual(headers(w));
    expect(headers(hubs[A]!).length).toBeGreaterThanOrEqual(Number(aHead));
    // A's writes in its old term are refused by the new authority's replicas, typed.
    expect(a.writeRefusal(ROOM)).toMatchObject({ code: "NOT_AUTHORITY" });
  });

  it("a deposed authority that never hears where the new term starts still gives its tail up (its log is checked against the new term's)", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    // A sequences an entry no replica receives, then stops.
    dropSequencedFrom(net, A);
    await hubs[A]!.hub.handleFrame(
      alice.sessionId,
      alice.senderId,
      appMessage(alice, ROOM, 1n, "tail"),
    );
    await net.settle();
    net.tamper = undefined;
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    const w = hubs[winner]!;
    // The new term's entries take the tail's place and go past it.
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b2"));
    await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1"));
    expect(hubs[A]!.storage.nextIndex(ROOM)).toBeLessThan(w.storage.nextIndex(ROOM));
    // A comes back; the certificate reaches it, where the new term starts does not.
    net.tamper = (m) => {
      if (m.to !== A) return m;
      const key = net.signers.get(m.from)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.AUTHORITY_COMMIT ? undefined : m;
    };
    await net.restart(A);
    await net.settle();
    expect(hubs[A]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: winner });
    // The next entry reaches A past its head: A must not append after its own tail.
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b3"));
    await net.settle();
    expect(headers(hubs[A]!)).toEqual(headers(w));
  });

  it("a replica keeps what it took in the new term when the new authority says again where the term starts", async () => {
    const { net, hubs, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    const other = winner === B ? C : B;
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1"));
    await net.settle();
    const before = headers(hubs[other]!);
    // The link goes down and up: the new authority sends its certificate and
    // AUTHORITY_COMMIT (where its term starts) again.
    net.link(winner, other, false);
    net.link(winner, other);
    await net.settle();
    const dropped = hubs[other]!.storage.readAudit().filter(
      (r) => r.detail.event === "tail_discarded",
    );
    expect(dropped).toEqual([]);
    expect(headers(hubs[other]!)).toEqual(before);
  });

  it("local: the unreplicated tail an old authority acknowledged is lost by the failover, and counted", async () => {
    const { net, hubs, alice } = await threeHubRoom({
      setup: { ackQuorum: "local", failoverAfterMs: FAILOVER_MS },
    });
    // A acknowledges an entry no replica receives, then stops.
    dropSequencedFrom(net, A);
    const acked = await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "only at A"));
    expect(acked.opcode).toBe(Opcode.ACK);
    net.tamper = undefined;
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    const log = hubs[winner]!.storage.readRange(ROOM, 0n, 1000);
    const at = log[Number(acked.frame.header.logIndex)];
    const lostAcked =
      at === undefined || FrameHeader.view(at.header).requestId !== acked.frame.header.requestId
        ? 1
        : 0;
    expect(lostAcked).toBe(1);
  });

  it("a voter does not elect a candidate whose log is behind its own", async () => {
    const { net, hubs, alice, carol } = await threeHubRoom({
      setup: { failoverAfterMs: FAILOVER_MS },
    });
    // C misses the last entry; B has it.
    net.tamper = (m) => {
      if (m.from !== A || m.to !== C) return m;
      const key = net.signers.get(A)!.publicKey;
      return openEnvelope(m.bytes, key, { maxHops: 3 }).envelope.position_sig === undefined
        ? m
        : undefined;
    };
    await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "B has it"));
    net.tamper = undefined;
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    expect(winner).toBe(B);
    // C fetches what it missed from B when B's next entry reaches it.
    const after = await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "after"));
    expect(after.opcode).toBe(Opcode.ACK);
    await net.settle();
    expect(headers(hubs[C]!)).toEqual(headers(hubs[B]!));
  });
});

export type { Env };
