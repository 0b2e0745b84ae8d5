/**
 * Failover of a room's authority between real hubs (DESIGN §11, issue 18;
 * src/federation/roomTransfers.ts, failover.ts): the authority's hub stops, a voter takes
 * the room over after `failover_after_ms`, and the deposed hub, back, follows the new term.
 */
import { decodePayload, FrameHeader, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { answerTo, type Client, type Env, frameOf } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import {
  A,
  B,
  C,
  FAILOVER_MS,
  failover,
  headers,
  ROOM,
  type Room,
  threeHubRoom,
} from "./threeHubs.js";
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

  it("a deposed authority back while only a hub that took the room by a planned transfer is up learns the term from it on its first write (fed_hubs_churn)", async () => {
    const { net, hubs, alice } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    const next = winner === B ? C : B;
    // The winner hands the room on (A down: the winner and `next` are a majority).
    let moved: unknown;
    void hubs[winner]!.hub.federation!.transfer(ROOM, next).then((r) => {
      moved = r;
    });
    for (let step = 0; step < 50 && moved === undefined; step++) {
      net.time.advance(100);
      for (const d of [B, C]) hubs[d]!.hub.federation!.tick();
      await net.settle();
    }
    expect(moved).toEqual({ ok: true, term: 2n });
    // The winner goes down; A comes back and knows nothing of terms 1 and 2.
    await net.crash(winner);
    await net.restart(A);
    hubs[A]!.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);
    await net.settle();
    const a = hubs[A]!.hub.federation!;
    const bytes = appMessage(alice, ROOM, 1n, "back");
    await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    for (let step = 0; step < 40 && a.roomAuthority(ROOM)?.role !== "replica"; step++) {
      net.time.advance(100);
      a.tick();
      hubs[next]!.hub.federation!.tick();
      await net.settle();
    }
    // (Its own proposal, refused, was a promise: `next` takes the room again above it.)
    expect(a.roomAuthority(ROOM)).toMatchObject({ authority: next, role: "replica" });
    expect(a.roomAuthority(ROOM)!.term).toBeGreaterThanOrEqual(2n);
    // alice's next write through A is sequenced by the room's authority, and acknowledged.
    const again = await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "again"));
    expect(again.error?.name ?? again.opcode).toBe(Opcode.ACK);
  });

  it("a deposed authority that never hears where the new term starts still gives its tail up (its log is checked against the new term's)", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const { winner } = await deposeWithTail({ net, hubs, alice, bob, carol });
    const w = hubs[winner]!;
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

  it("a deposed authority shows its devices nothing of its tail on the new authority's commit point before its log is checked (fed_hubs_failover seed 137)", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const { winner, tail } = await deposeWithTail({ net, hubs, alice, bob, carol });
    const w = hubs[winner]!;
    // A comes back and learns the new term, its frames and commit point, but neither where
    // its term starts nor its catch-up pages: A's log is not checked against it yet.
    net.tamper = (m) => {
      if (m.to !== A) return m;
      const key = net.signers.get(m.from)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.AUTHORITY_COMMIT || op === Opcode.SYNC_PAGE ? undefined : m;
    };
    await net.restart(A);
    hubs[A]!.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);
    await net.settle();
    expect(hubs[A]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: winner });
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b3"));
    await net.settle();
    const tailAt = FrameHeader.view(hubs[A]!.storage.readRange(ROOM, 0n, 1000).at(-1)!.header);
    expect(tailAt.requestId).toBe(FrameHeader.view(tail).requestId);
    // alice syncs at A: every entry shown is the new authority's at that position.
    const req = frameOf(alice, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 });
    await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, req);
    const requestId = FrameHeader.view(req).requestId;
    await net.settleUntil(() => answerTo(hubs[A]!, alice, requestId) !== undefined);
    const page = answerTo(hubs[A]!, alice, requestId)!;
    expect(page.opcode).toBe(Opcode.SYNC_PAGE);
    const shown = decodePayload(Opcode.SYNC_PAGE, page.frame.payload).entries;
    const authority = w.storage.readRange(ROOM, 0n, 1000);
    for (const e of shown) {
      const h = FrameHeader.view(e.header);
      const at = FrameHeader.view(authority[Number(h.logIndex)]!.header);
      expect([h.logIndex, h.senderId, h.requestId]).toEqual([
        h.logIndex,
        at.senderId,
        at.requestId,
      ]);
    }
  });

  it("a replica behind where a new term starts catches up at once (fed_hubs_failover seed 78), and records each fetched entry's own term, not the authority's", async () => {
    const { net, hubs, alice } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    await missedByC(net, hubs[A]!, alice);
    await net.crash(A);
    expect(await failover(net, [B, C])).toBe(B);
    // Nobody writes after the takeover: only where B's term starts reveals C's gap.
    await net.settle();
    expect(headers(hubs[C]!)).toEqual(headers(hubs[B]!));
    // The fetched entry is of term 0: C's log ends in term 0, as B's does (how complete
    // each log is, in the next election).
    expect(termOfLastEntry(hubs[C]!)).toBe(0n);
    expect(termOfLastEntry(hubs[B]!)).toBe(0n);
  });

  it("a catch-up request lost with its link does not keep the replica from asking that hub again once it is the authority (fed_hubs_failover seed 309)", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const opened = (m: { from: string; bytes: Uint8Array }) =>
      openEnvelope(m.bytes, net.signers.get(m.from)!.publicKey, { maxHops: 3 });
    // B misses A's next entry, asks A for it on seeing the one after; no answer comes: A stops.
    let missed = false;
    net.tamper = (m) => {
      if (m.from !== A || m.to === A) return m;
      const { envelope, inner } = opened(m);
      if (envelope.position_sig !== undefined && (m.to === C || !missed)) {
        missed ||= m.to === B;
        return undefined;
      }
      return m.to === B && inner.header.opcode === Opcode.SYNC_PAGE ? undefined : m;
    };
    for (const text of ["m1", "m2"]) {
      await hubs[A]!.hub.handleFrame(
        alice.sessionId,
        alice.senderId,
        appMessage(alice, ROOM, 1n, text),
      );
      await net.settle();
    }
    net.tamper = undefined;
    await net.crash(A);
    // B takes the room over (only B's failover timer runs: C votes, does not propose).
    expect(await failover(net, [B])).toBe(B);
    await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    // A comes back, follows B, then B is cut off and A takes the room over.
    await net.restart(A);
    await net.settle();
    expect(headers(hubs[A]!)).toEqual(headers(hubs[B]!));
    net.link(B, A, false);
    net.link(B, C, false);
    expect(await failover(net, [A])).toBe(A);
    // B is back: it follows A, and fetches what it needs from A.
    net.link(B, A);
    net.link(B, C);
    await net.settle();
    await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1"));
    await net.settle();
    expect(hubs[B]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: A });
    expect(headers(hubs[B]!)).toEqual(headers(hubs[A]!));
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
    await missedByC(net, hubs[A]!, alice);
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

/**
 * A sequences an entry no replica receives (never committed: its tail), then stops; B or C
 * takes over and both write in the new term, past the tail's position. Returns the winner
 * and the tail's frame.
 */
async function deposeWithTail(r: Room): Promise<{ winner: string; tail: Uint8Array }> {
  const { net, hubs, alice, bob, carol } = r;
  await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
  dropSequencedFrom(net, A);
  const tail = appMessage(alice, ROOM, 1n, "tail");
  await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, tail);
  await net.settle();
  net.tamper = undefined;
  await net.crash(A);
  const winner = await failover(net, [B, C]);
  await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b2"));
  await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1"));
  return { winner, tail };
}

/** alice@a sends an entry A sequences that C never receives (B does). */
async function missedByC(net: Net, a: Env, alice: Client): Promise<void> {
  net.tamper = (m) => {
    if (m.from !== A || m.to !== C) return m;
    const key = net.signers.get(A)!.publicKey;
    return openEnvelope(m.bytes, key, { maxHops: 3 }).envelope.position_sig === undefined
      ? m
      : undefined;
  };
  await a.hub.handleFrame(
    alice.sessionId,
    alice.senderId,
    appMessage(alice, ROOM, 1n, "C misses it"),
  );
  await net.settle();
  net.tamper = undefined;
}

/** The term of the room's last entry in `env`'s log, as its recorded term starts say. */
function termOfLastEntry(env: Env): bigint {
  const facts = env.storage.readAudit().filter((r) => r.kind === "federation_room_facts");
  const starts = (facts.at(-1)?.detail.starts ?? []) as [string, string][];
  const length = env.storage.nextIndex(ROOM);
  let term = 0n;
  for (const [t, s] of starts) if (BigInt(s) < length) term = BigInt(t);
  return term;
}

export type { Env };
