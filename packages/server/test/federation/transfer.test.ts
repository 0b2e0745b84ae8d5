/**
 * Moving a room's authority between real hubs (DESIGN §11, issue 18;
 * src/federation/roomTransfers.ts): three hub cores, each with its own storage and real MLS
 * devices, linked in memory (twoHubs.ts).
 */
import {
  decodePayload,
  FrameHeader,
  hubFrame,
  Opcode,
  openEnvelope,
  sealEnvelope,
  signPosition,
} from "@kalandra/proto";
import { seededRng, tempDir } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { certFrame, proposeFrame } from "../../src/federation/authority/authorityFrames.js";
import { type Proposal, proposalHash, signVote } from "../../src/federation/authority/statement.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import type { Storage } from "../../src/storage/types.js";
import { type Answer, answerTo, type Client, type Env } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, headers, ROOM, threeHubRoom, votes } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** Sends `bytes` from `c` through its home hub until it is not TRANSFERRING (same request id). */
async function sendRetrying(net: Net, env: Env, c: Client, bytes: Uint8Array): Promise<Answer> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = await sendVia(net, env, c, bytes);
    if (a.error?.name !== "TRANSFERRING") return a;
    const hint = decodePayload(Opcode.ERROR, a.frame.payload).retry_after_ms;
    expect(hint).toBe(1000n);
    net.time.advance(1000);
    for (const e of net.hubs.values()) e.hub.federation!.tick();
  }
  throw new Error("still TRANSFERRING");
}

describe("planned transfer of a room's authority between real hubs", () => {
  it.each(["local", "majority"] as const)(
    "moves the room from A to B while all three hubs' users send (ack_quorum %s): no gap, no reordering, nothing acked lost",
    async (ackQuorum) => {
      const { net, hubs, alice, bob, carol } = await threeHubRoom({ setup: { ackQuorum } });
      const a = hubs[A]!;
      const b = hubs[B]!;
      const c = hubs[C]!;
      expect(a.hub.federation!.roomAuthority(ROOM)).toEqual({
        authority: A,
        term: 0n,
        role: "sequencer",
        commitIndex: 3n, // create, add, A's enlisting of B and C
      });
      expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "before"))).opcode).toBe(
        Opcode.ACK,
      );
      // The transfer starts while a message of each user is in flight.
      const moving = a.hub.federation!.transfer(ROOM, B);
      const inFlight = [
        [a, alice, appMessage(alice, ROOM, 1n, "during a")],
        [b, bob, appMessage(bob, ROOM, 1n, "during b")],
        [c, carol, appMessage(carol, ROOM, 1n, "during c")],
      ] as const;
      for (const [env, client, bytes] of inFlight) {
        await env.hub.handleFrame(client.sessionId, client.senderId, bytes);
      }
      await net.settle();
      expect(await moving).toEqual({ ok: true, term: 1n });
      // Refused ones (TRANSFERRING) are retried with the same request id, like the client core.
      const acked: Answer[] = [];
      for (const [env, client, bytes] of inFlight) {
        const first = answerTo(env, client, FrameHeader.view(bytes).requestId);
        expect(["ACK", "TRANSFERRING"]).toContain(
          first?.opcode === Opcode.ACK ? "ACK" : first?.error?.name,
        );
        acked.push(await sendRetrying(net, env, client, bytes));
      }
      for (const x of acked) expect(x.opcode).toBe(Opcode.ACK);
      // Every hub's view: B sequences in term 1, the others replicate it.
      for (const [domain, env] of Object.entries(hubs)) {
        const s = env.hub.federation!.roomAuthority(ROOM);
        expect(s).toMatchObject({ authority: B, term: 1n });
        expect(s!.role).toBe(domain === B ? "sequencer" : "replica");
        expect(env.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: B, term: 1n });
      }
      // After the transfer: writes from every hub go to B, continuing the log.
      const after = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "after a"));
      const afterC = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "after c"));
      expect(afterC.frame.header.logIndex).toBe(after.frame.header.logIndex + 1n);
      await net.settle();
      const log = headers(b);
      expect(log).toHaveLength(Number(afterC.frame.header.logIndex) + 1);
      expect(headers(a)).toEqual(log);
      expect(headers(c)).toEqual(log);
      // Every acknowledged frame is at the index its ACK named, from its sender.
      const stored = b.storage.readRange(ROOM, 0n, 1000);
      for (const [i, x] of acked.entries()) {
        const f = FrameHeader.view(stored[Number(x.frame.header.logIndex)]!.header);
        expect(f.senderId).toBe(inFlight[i]![1].senderId);
        expect(f.requestId).toBe(x.frame.header.requestId);
      }
      // Each sequenced frame once: the request ids of each sender are distinct.
      const seen = stored.map((f) => {
        const h = FrameHeader.view(f.header);
        return `${h.senderId}:${h.requestId}`;
      });
      expect(new Set(seen).size).toBe(seen.length);
    },
  );
});

describe("a handover whose last frame the new authority missed", () => {
  it("the new authority fetches the log's end from the hub handing the room over, then takes it", async () => {
    const { net, hubs, alice } = await threeHubRoom();
    const [a, b] = [hubs[A]!, hubs[B]!];
    // A's last sequenced frame never reaches B (lost with a link); C has it.
    net.tamper = (m) => {
      if (m.from !== A || m.to !== B) return m;
      const key = net.signers.get(A)!.publicKey;
      return openEnvelope(m.bytes, key, { maxHops: 3 }).envelope.position_sig === undefined
        ? m
        : undefined;
    };
    const last = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "last"));
    expect(last.opcode).toBe(Opcode.ACK);
    net.tamper = undefined;
    expect(b.storage.nextIndex(ROOM)).toBeLessThan(a.storage.nextIndex(ROOM));
    let result: unknown;
    void a.hub.federation!.transfer(ROOM, B).then((r) => {
      result = r;
    });
    // A takes no more writes: no new frame reveals B's gap; the runtime ticks every 100 ms.
    for (let step = 0; step < 50 && result === undefined; step++) {
      net.time.advance(100);
      for (const env of Object.values(hubs)) env.hub.federation!.tick();
      await net.settle();
    }
    expect(result).toEqual({ ok: true, term: 1n });
    expect(headers(b)).toEqual(headers(a));
    // B's own entries count as of term 1 from where it took over (its log's completeness).
    const facts = b.storage.readAudit().filter((r) => r.kind === "federation_room_facts");
    expect(facts.at(-1)?.detail.starts).toContainEqual(["1", b.storage.nextIndex(ROOM).toString()]);
    const after = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "after"));
    expect(after.frame.header.logIndex).toBe(last.frame.header.logIndex + 1n);
  });
});

describe("a handover whose new authority is still fetching the log's end", () => {
  it("answers no catch-up from its shorter log, even with the room still in its sequencer from an earlier term: the hub handing over keeps its log (fed_hubs_transfer seed 359)", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom();
    const [a, b] = [hubs[A]!, hubs[B]!];
    const opened = (m: { from: string; bytes: Uint8Array }) =>
      openEnvelope(m.bytes, net.signers.get(m.from)!.publicKey, { maxHops: 3 });
    const untilDone = async (moving: Promise<unknown>) => {
      let result: unknown;
      void moving.then((r) => {
        result = r;
      });
      for (let step = 0; step < 50 && result === undefined; step++) {
        net.time.advance(100);
        for (const env of Object.values(hubs)) env.hub.federation!.tick();
        await net.settle();
      }
      return result;
    };
    expect(await untilDone(a.hub.federation!.transfer(ROOM, B))).toEqual({ ok: true, term: 1n });
    // A misses B's last frame, and the tail it then asks B for does not come (yet).
    net.tamper = (m) =>
      m.from === B && m.to === A && opened(m).envelope.position_sig !== undefined ? undefined : m;
    await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "last"));
    const log = headers(b);
    expect(headers(a)).toHaveLength(log.length - 1);
    net.tamper = (m) =>
      m.from === B && m.to === A && opened(m).inner.header.opcode === Opcode.SYNC_PAGE
        ? undefined
        : m;
    const moving = b.hub.federation!.transfer(ROOM, A);
    await net.settle();
    expect(a.hub.federation!.roomAuthority(ROOM)?.role).toBe("awaiting_handover");
    // The link between them comes back up: B, handing over, catches up from A.
    net.link(A, B, false);
    net.link(A, B);
    await net.settle();
    expect(headers(b)).toEqual(log);
    net.tamper = undefined;
    expect(await untilDone(moving)).toEqual({ ok: true, term: 2n });
    expect(headers(a)).toEqual(log);
    expect(headers(b)).toEqual(log);
    expect((await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "at A"))).opcode).toBe(
      Opcode.ACK,
    );
  });
});

describe("a hub that missed a planned transfer and everything of the new authority", () => {
  it("learns it when the hub it still takes for the authority refuses its catch-up (fed_hubs_transfer seed 348)", async () => {
    const { net, hubs, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    // Nothing of the transfer reaches C: not A's certificate, nothing from B.
    net.tamper = (m) => {
      if (m.to !== C) return m;
      if (m.from === B) return undefined;
      const key = net.signers.get(m.from)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.HANDOVER_CERT ? undefined : m;
    };
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(c.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
    net.tamper = undefined;
    // C's link to A comes back up: C asks A for what it missed, A no longer sequences.
    net.link(A, C, false);
    net.link(A, C);
    await net.settle();
    expect(c.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: B, term: 1n });
    expect((await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "to B"))).opcode).toBe(
      Opcode.ACK,
    );
    await net.settle();
    expect(headers(c)).toEqual(headers(b));
  });
});

describe("a handover interrupted by the old authority's restart", () => {
  it("the old authority sends the certificate and handover again when the link comes back up", async () => {
    const { net, hubs, bob } = await threeHubRoom();
    const [a, b] = [hubs[A]!, hubs[B]!];
    // The certificate and handover never reach B; A restarts (its transfer in memory lost).
    net.tamper = (m) => {
      if (m.from !== A || m.to !== B) return m;
      const key = net.signers.get(A)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.HANDOVER_CERT ? undefined : m;
    };
    void a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: B, term: 1n });
    expect(b.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n });
    await net.crash(A);
    await net.restart(A);
    // Still handing over after its restart: it holds the log B has not taken yet (the
    // simulation's checks compare with it; fed_hubs_transfer seed 214).
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: B,
      role: "handing_over",
    });
    net.tamper = undefined;
    net.link(A, B, false);
    net.link(A, B);
    for (let step = 0; step < 20; step++) {
      net.time.advance(100);
      for (const env of Object.values(hubs)) env.hub.federation!.tick();
      await net.settle();
    }
    expect(b.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: B,
      term: 1n,
      role: "sequencer",
    });
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "at B"))).opcode).toBe(Opcode.ACK);
    expect(a.hub.federation!.roomAuthority(ROOM)?.role).toBe("replica");
  });
});

describe("a voter promised to a term nobody wins", () => {
  it("refuses and does not count the sitting authority's lower-term frames; the authority takes the room again above it", async () => {
    const { net, hubs, alice } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    // C asks B alone for term 1 (a failover C then abandons): B's promise, no certificate.
    const p = proposal({
      from: A,
      to: C,
      proposer: C,
      position: c.storage.nextIndex(ROOM),
      kind: "failover",
    });
    c.hub.federation!.sendHubFrame(B, proposeFrame(net.signers.get(C)!, p));
    await net.settleUntil(() => votes(net, B, C).length === 1);
    expect(votes(net, B, C)[0]).toMatchObject({ term: 1n, approve: true });
    // A sequences in term 0: B refuses it (STALE_TERM), counts nothing towards A's commit,
    // and tells A of its promise; A reclaims the room in term 2 (B and C vote for it).
    const sent = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "after the promise"));
    await net.settle();
    expect(b.hub.federation!.refused.get("STALE_TERM")).toBeGreaterThan(0);
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: A,
      term: 2n,
      role: "sequencer",
    });
    expect(sent.opcode).toBe(Opcode.ACK);
    const next = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "in term 2"));
    expect(next.frame.header.logIndex).toBe(sent.frame.header.logIndex + 1n);
    await net.settle();
    expect(headers(b)).toEqual(headers(a));
    expect(headers(c)).toEqual(headers(a));
  });
});

function proposal(over: Partial<Proposal> = {}): Proposal {
  return {
    roomId: ROOM,
    term: 1n,
    from: A,
    to: B,
    proposer: A,
    position: 3n,
    lastTerm: 0n,
    voters: [A, B, C],
    nonce: new Uint8Array(16).fill(1),
    kind: "planned",
    ...over,
  };
}

describe("votes and refusals", () => {
  it("a voter's vote survives its restart from LMDB: the same proposal gets the same vote, another in that term ALREADY_VOTED", async () => {
    const dir = tempDir("fed-votes");
    const open = () => openLmdbStorage({ path: dir.path, rng: seededRng("fed-votes-c") });
    let storage: Storage = await open();
    let net: Net | undefined;
    try {
      const n = (await threeHubRoom({ storage: { [C]: storage } })).net;
      net = n;
      const a = n.hub(A).hub.federation!;
      const p1 = proposal();
      a.sendHubFrame(C, proposeFrame(n.signers.get(A)!, p1));
      await n.settleUntil(() => votes(n, C, A).length === 1);
      const [first] = votes(n, C, A);
      expect(first).toMatchObject({ term: 1n, voter: C, approve: true });
      expect(storage.readAudit().filter((r) => r.detail.event === "vote")).toHaveLength(1);
      await n.settleUntil(() => false); // C's last audit writes land before it stops
      await n.crash(C);
      await storage.close();
      storage = await open();
      await n.restart(C, storage);
      a.sendHubFrame(C, proposeFrame(n.signers.get(A)!, p1));
      const p2 = proposal({ to: C, nonce: new Uint8Array(16).fill(2) });
      a.sendHubFrame(C, proposeFrame(n.signers.get(A)!, p2));
      await n.settleUntil(() => votes(n, C, A).length === 3);
      const [, again, other] = votes(n, C, A);
      expect(again).toEqual(first);
      expect(other).toMatchObject({ approve: false, refusal: "ALREADY_VOTED" });
      // Still one vote on record: the repeated answer wrote nothing.
      expect(storage.readAudit().filter((r) => r.detail.event === "vote")).toHaveLength(1);
    } finally {
      // Nothing of C's may still be writing when its storage closes.
      if (net !== undefined && !net.down.has(C)) {
        await net.settleUntil(() => false);
        await net.crash(C);
      }
      await storage.close();
      dir.cleanup();
    }
  });

  it("a sitting authority refuses a failover of its own room: it is not gone", async () => {
    // A voter whose link to A flapped proposes itself; A, alive and sequencing, answers no
    // (with worker shards its main storage does not hold the log a vote would compare).
    const { net, hubs } = await threeHubRoom();
    const p = proposal({ kind: "failover", from: A, to: B, proposer: B, position: 99n });
    hubs[B]!.hub.federation!.sendHubFrame(A, proposeFrame(net.signers.get(B)!, p));
    await net.settle();
    expect(votes(net, A, B)).toMatchObject([{ term: 1n, approve: false, refusal: "STALE_TERM" }]);
    expect(hubs[A]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n });
  });

  it("refuses transfers it cannot make, typed, and the room stays writable", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom();
    const a = hubs[A]!.hub.federation!;
    const b = hubs[B]!.hub.federation!;
    expect(await b.transfer(ROOM, C)).toMatchObject({ ok: false, code: "NOT_AUTHORITY" });
    expect(await a.transfer(ROOM, A)).toMatchObject({ ok: false, code: "FORBIDDEN" });
    expect(await a.transfer(ROOM, "d.example")).toMatchObject({
      ok: false,
      code: "PEER_UNREACHABLE",
    });
    expect(await a.transfer(99n, B)).toMatchObject({ ok: false, code: "UNKNOWN_ROOM" });
    net.link(A, C, false);
    expect(await a.transfer(ROOM, C)).toMatchObject({ ok: false, code: "PEER_UNREACHABLE" });
    net.link(A, C);
    expect((await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n))).opcode).toBe(
      Opcode.ACK,
    );
    expect((await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n))).opcode).toBe(Opcode.ACK);
  });

  it("a transfer no majority answers expires, and the authority takes writes again", async () => {
    const { net, hubs, bob } = await threeHubRoom();
    const a = hubs[A]!.hub.federation!;
    // B and C never hear of it: the proposal is lost on both links.
    net.tamper = (m) => (m.from === A ? undefined : m);
    const moving = a.transfer(ROOM, B);
    await net.settle();
    expect(a.transferring(ROOM)).toBe(1000n);
    net.tamper = undefined;
    const held = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n));
    expect(held.error?.name).toBe("TRANSFERRING");
    net.time.advance(6001);
    a.tick();
    expect(await moving).toMatchObject({ ok: false, code: "PEER_UNREACHABLE" });
    expect(a.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n, role: "sequencer" });
    expect((await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n))).opcode).toBe(Opcode.ACK);
  });

  it("an authority refuses a frame another hub claims to have sequenced in its own term", async () => {
    const { net, hubs, alice } = await threeHubRoom();
    const a = hubs[A]!.hub.federation!;
    const bSigner = net.signers.get(B)!;
    // B presents a frame of the room as sequenced by itself, in A's term 0.
    const [stored] = hubs[A]!.storage.readRange(ROOM, 1n, 1);
    const frame = appMessage(alice, ROOM, 1n, "forged");
    const forged = sealEnvelope(bSigner, {
      origin: B,
      forwardedAt: 0n,
      hops: 1,
      frame,
      term: 0n,
      positionSig: signPosition(bSigner, 0n, frame),
      to: [],
    });
    a.linkFrame(B, forged);
    await net.settle();
    expect(a.refused.get("NOT_AUTHORITY")).toBe(1);
    expect(a.book.authorityOf(ROOM)).toBeUndefined();
    expect(a.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n, role: "sequencer" });
    expect(hubs[A]!.storage.readRange(ROOM, 1n, 1)).toEqual([stored]);
    expect(a.writeRefusal(ROOM)).toBeUndefined();
  });

  it("drops forged authority frames, typed: a certificate without a majority, a proposal in another hub's name", async () => {
    const { net, hubs } = await threeHubRoom();
    const c = hubs[C]!.hub.federation!;
    const bSigner = net.signers.get(B)!;
    // B claims the room with only its own vote: no majority of three.
    const p = proposal({ kind: "failover", from: A, to: B, proposer: B });
    const own = signVote(B, proposalHash(p), bSigner);
    hubs[B]!.hub.federation!.sendHubFrame(C, certFrame(bSigner, { proposal: p, votes: [own] }));
    // A vote signed by C's key forged by B (B cannot sign as C).
    const forged = { voter: C, proposal: proposalHash(p), signature: own.signature };
    hubs[B]!.hub.federation!.sendHubFrame(
      C,
      certFrame(bSigner, { proposal: p, votes: [own, forged] }),
    );
    // B proposes in A's name.
    hubs[B]!.hub.federation!.sendHubFrame(C, proposeFrame(bSigner, proposal()));
    // Garbage in a well-signed frame.
    hubs[B]!.hub.federation!.sendHubFrame(
      C,
      hubFrame(bSigner, Opcode.HANDOVER_CERT, ROOM, 0n, {
        proposal: new Uint8Array([1, 2, 3]),
        votes: [],
      }),
    );
    await net.settle();
    expect(c.refused.get("BAD_HUB_SIGNATURE")).toBe(2);
    expect(c.refused.get("FORBIDDEN")).toBe(1);
    expect(c.refused.get("BAD_PAYLOAD")).toBe(1);
    expect(c.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
    expect(c.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 0n, role: "replica" });
    expect(votes(net, C, B)).toEqual([]);
  });
});

/** The opcode of the frame inside a link message. */
function innerOpcode(net: Net, m: { from: string; bytes: Uint8Array }): number {
  const key = net.signers.get(m.from)!.publicKey;
  return openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
}

describe('ack_quorum = "majority"', () => {
  it("acknowledges and fans out an entry only once a majority of voters holds it durably", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority" },
    });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    // The replicas store the entry but their reports are lost: it is durable at A only.
    net.tamper = (m) =>
      m.to === A && innerOpcode(net, m) === Opcode.FED_LOG_STATE ? undefined : m;
    const bytes = appMessage(alice, ROOM, 1n, "held");
    await a.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    await net.settle();
    const requestId = FrameHeader.view(bytes).requestId;
    // The log so far: create, add, A's enlisting of B and C (0, 1, 2), then the held entry.
    expect(a.storage.nextIndex(ROOM)).toBe(4n);
    expect(c.storage.nextIndex(ROOM)).toBe(4n);
    expect(answerTo(a, alice, requestId)).toBeUndefined();
    expect(a.hub.federation!.roomAuthority(ROOM)?.commitIndex).toBe(3n);
    const shownTo = (env: Env, who: Client) =>
      env.out
        .filter((s) => s.target.kind === "members" && s.target.senderIds.includes(who.senderId))
        .map((s) => s.frame.header.logIndex);
    expect(shownTo(c, carol)).toEqual([2n]);
    // The reports get through again: the next entry's make the majority hold both.
    net.tamper = undefined;
    const next = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "next"));
    expect(next.opcode).toBe(Opcode.ACK);
    const held = answerTo(a, alice, requestId);
    expect(held?.opcode).toBe(Opcode.ACK);
    expect(held?.frame.header.logIndex).toBe(3n);
    await net.settle();
    expect(a.hub.federation!.roomAuthority(ROOM)?.commitIndex).toBe(5n);
    // Carol (on C) and alice (on A) saw each entry once committed, in order.
    expect(shownTo(c, carol)).toEqual([2n, 3n, 4n]);
    expect(shownTo(a, alice)).toEqual([2n, 4n]);
    expect(headers(b)).toEqual(headers(a));
    expect(headers(c)).toEqual(headers(a));
  });

  it('"local" acknowledges at once, whatever the replicas hold', async () => {
    const { net, hubs, alice } = await threeHubRoom();
    net.tamper = (m) =>
      m.from === A && innerOpcode(net, m) === Opcode.APP_MESSAGE ? undefined : m;
    const sent = await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "at once"));
    expect(sent.opcode).toBe(Opcode.ACK);
    expect(hubs[B]!.storage.nextIndex(ROOM)).toBe(3n);
  });
});
