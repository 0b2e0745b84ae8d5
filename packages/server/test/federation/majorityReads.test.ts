/**
 * `ack_quorum = "majority"` beyond the live path (src/federation/majorityGate.ts): what a
 * client may read — its retried request's ACK after the authority restarted, a sync page at
 * the authority or at a replica — never shows an entry no majority holds yet, since a
 * failover may still drop it (fed_hubs_failover seeds 3, 5, 7 acknowledged and served such
 * entries before these rules).
 */
import { decodePayload, FrameHeader, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { answerTo, type Client, type Env, frameOf } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** The replicas' reports to A (FED_LOG_STATE) are lost: nothing new is committed at A. */
function loseReportsTo(net: Net, to: string): void {
  net.tamper = (m) => {
    if (m.to !== to) return m;
    const key = net.signers.get(m.from)!.publicKey;
    const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
    return op === Opcode.FED_LOG_STATE ? undefined : m;
  };
}

/** The log indexes of the SYNC_PAGE the hub answers `c`'s sync from 0 with. */
async function syncedIndexes(net: Net, env: Env, c: Client): Promise<bigint[]> {
  const req = frameOf(c, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 });
  const requestId = FrameHeader.view(req).requestId;
  await env.hub.handleFrame(c.sessionId, c.senderId, req);
  await net.settleUntil(() => answerTo(env, c, requestId) !== undefined);
  const page = answerTo(env, c, requestId);
  expect(page?.opcode).toBe(Opcode.SYNC_PAGE);
  const p = decodePayload(Opcode.SYNC_PAGE, page!.frame.payload);
  const indexes = p.entries.map((e) => FrameHeader.view(e.header).logIndex);
  expect(p.head).toBeGreaterThanOrEqual(p.next);
  return indexes;
}

// The room's log after threeHubRoom: create, add, A's enlisting of B and C (0, 1, 2).
describe('ack_quorum = "majority": what clients read', () => {
  it("a restarted authority holds the ACK of a retried request until a majority holds the entry", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const a = hubs[A]!;
    loseReportsTo(net, A);
    const bytes = appMessage(alice, ROOM, 1n, "held");
    const requestId = FrameHeader.view(bytes).requestId;
    await a.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    await net.settle();
    expect(a.storage.nextIndex(ROOM)).toBe(4n);
    expect(answerTo(a, alice, requestId)).toBeUndefined();
    // A restarts; alice's client retries the same request (idempotent: same request id).
    await net.crash(A);
    await net.restart(A);
    a.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);
    await a.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    await net.settle();
    expect(answerTo(a, alice, requestId), "ACKed before a majority held it").toBeUndefined();
    // The reports get through again: the next entry commits both.
    net.tamper = undefined;
    const next = appMessage(bob, ROOM, 1n, "next");
    await hubs[B]!.hub.handleFrame(bob.sessionId, bob.senderId, next);
    await net.settleUntil(() => answerTo(a, alice, requestId) !== undefined);
    expect(answerTo(a, alice, requestId)?.frame.header.logIndex).toBe(3n);
  });

  it("a sync page at the authority ends at the commit point", async () => {
    const { net, hubs, alice } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const a = hubs[A]!;
    expect(await syncedIndexes(net, a, alice)).toEqual([0n, 1n, 2n]);
    loseReportsTo(net, A);
    await a.hub.handleFrame(alice.sessionId, alice.senderId, appMessage(alice, ROOM, 1n, "held"));
    await net.settle();
    expect(a.storage.nextIndex(ROOM)).toBe(4n);
    expect(await syncedIndexes(net, a, alice)).toEqual([0n, 1n, 2n]);
  });

  it("a sync page at a replica ends at the authority's commit point", async () => {
    const { net, hubs, alice, carol } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, c] = [hubs[A]!, hubs[C]!];
    // Both replicas store the entry, A never hears so, nor tells C it is committed.
    loseReportsTo(net, A);
    await a.hub.handleFrame(alice.sessionId, alice.senderId, appMessage(alice, ROOM, 1n, "held"));
    await net.settle();
    expect(c.storage.nextIndex(ROOM)).toBe(4n);
    expect(await syncedIndexes(net, c, carol)).toEqual([0n, 1n, 2n]);
  });
});

describe('ack_quorum = "majority": a planned transfer', () => {
  const dropLogStates = (net: Net) => {
    net.tamper = (m) => {
      const key = net.signers.get(m.from)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.FED_LOG_STATE ? undefined : m;
    };
  };

  it("both hubs serve the committed log at once: the new authority from what it knew as a replica, the old from what it had committed", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b] = [hubs[A]!, hubs[B]!];
    expect(await syncedIndexes(net, a, alice)).toEqual([0n, 1n, 2n]);
    // No commit point moves any more: the new term's reports never arrive.
    dropLogStates(net);
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(await syncedIndexes(net, b, bob)).toEqual([0n, 1n, 2n]);
    expect(await syncedIndexes(net, a, alice)).toEqual([0n, 1n, 2n]);
  });

  it("the old authority holds an entry's ACK it had not committed until the new authority commits it", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b] = [hubs[A]!, hubs[B]!];
    loseReportsTo(net, A);
    const bytes = appMessage(alice, ROOM, 1n, "held");
    const requestId = FrameHeader.view(bytes).requestId;
    await a.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    await net.settle();
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(b.storage.nextIndex(ROOM)).toBe(4n);
    // Handed over, the entry is on the new authority's log: not yet told committed to A.
    expect(answerTo(a, alice, requestId), "ACKed at the handover").toBeUndefined();
    net.tamper = undefined;
    await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "next"));
    await net.settleUntil(() => answerTo(a, alice, requestId) !== undefined);
    expect(answerTo(a, alice, requestId)?.frame.header.logIndex).toBe(3n);
  });

  it("a commit point the old authority was told before its log was checked releases its held ACK once the log is, with no new write", async () => {
    const { net, hubs, alice } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b] = [hubs[A]!, hubs[B]!];
    const op = (m: { from: string; bytes: Uint8Array }) =>
      openEnvelope(m.bytes, net.signers.get(m.from)!.publicKey, { maxHops: 3 }).inner.header.opcode;
    loseReportsTo(net, A);
    const bytes = appMessage(alice, ROOM, 1n, "held");
    const requestId = FrameHeader.view(bytes).requestId;
    await a.hub.handleFrame(alice.sessionId, alice.senderId, bytes);
    await net.settle();
    // B's commit points reach A, but not B's catch-up pages: A's log is not checked yet.
    net.tamper = (m) => (m.from === B && m.to === A && op(m) === Opcode.SYNC_PAGE ? undefined : m);
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    expect(b.hub.federation!.roomAuthority(ROOM)?.commitIndex).toBe(4n);
    expect(answerTo(a, alice, requestId)).toBeUndefined();
    // The pages come through (A asks again on a link up): A's log agrees, the ACK goes.
    net.tamper = (m) => (op(m) === Opcode.FED_LOG_STATE ? undefined : m);
    net.link(A, B, false);
    net.link(A, B);
    await net.settleUntil(() => answerTo(a, alice, requestId) !== undefined);
    expect(answerTo(a, alice, requestId)?.frame.header.logIndex).toBe(3n);
    expect(b.storage.nextIndex(ROOM)).toBe(4n);
  });
});
