/**
 * Majority mode (DESIGN §11; federation/replicaIntake.ts): an authority's commit point must
 * move without a new entry. None may come: when the log ends in a commit no majority has
 * reported, no client sees it, every write is refused STALE_EPOCH, and nothing is sequenced
 * again (fed_hubs_transfer seeds 35, 481).
 * - A new authority's commit point covers the log it took over once the replicas learn
 *   where its term starts (`giveWay`), not only after the term's first entry.
 * - A replica that promised a higher term and so does not count towards the authority's
 *   commit point tells it so whenever it would report its log (a catch-up page too, not only
 *   a live frame): the authority takes the room again above the promise.
 */
import { decodePayload, FrameHeader, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { proposeFrame } from "../../src/federation/authority/authorityFrames.js";
import { NONCE_BYTES } from "../../src/federation/authority/statement.js";
import { answerTo, frameOf } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, FAILOVER_MS, failover, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** The inner opcode of a message between hubs, and whether it carries a position (sequenced). */
function inner(net: Net, m: { from: string; bytes: Uint8Array }) {
  const key = net.signers.get(m.from)!.publicKey;
  const { envelope, inner } = openEnvelope(m.bytes, key, { maxHops: 3 });
  return { opcode: inner.header.opcode, sequenced: envelope.position_sig !== undefined };
}

/**
 * C asks B alone for `term`, and B asks C alone (elections each then abandons): both
 * replicas promised the term, nobody won it.
 */
async function promiseEachOther(net: Net, term: bigint): Promise<void> {
  const p = {
    roomId: ROOM,
    term,
    from: A,
    to: C,
    proposer: C,
    position: net.hub(C).storage.nextIndex(ROOM),
    lastTerm: 0n,
    voters: [A, B, C],
    nonce: new Uint8Array(NONCE_BYTES).fill(7),
    kind: "failover" as const,
  };
  net.hub(C).hub.federation!.sendHubFrame(B, proposeFrame(net.signers.get(C)!, p));
  const q = { ...p, to: B, proposer: B, nonce: new Uint8Array(NONCE_BYTES).fill(8) };
  net.hub(B).hub.federation!.sendHubFrame(C, proposeFrame(net.signers.get(B)!, q));
  await net.settle();
}

describe("a new authority's commit point in majority mode", () => {
  it("covers the log it took over as soon as the replicas learn its term's start, with no new write", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    // A's last entry reaches B and C, but their reports of it never reach A: never committed.
    net.tamper = (m) =>
      m.to === A && inner(net, m).opcode === Opcode.FED_LOG_STATE ? undefined : m;
    const last = appMessage(alice, ROOM, 1n, "last");
    await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, last);
    await net.settle();
    net.tamper = undefined;
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    await net.settle();
    const w = hubs[winner]!;
    const head = w.storage.nextIndex(ROOM);
    expect(w.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: winner,
      role: "sequencer",
      commitIndex: head,
    });
    // The other hub's device reads the whole log, the last entry included.
    const [other, device] = winner === B ? [hubs[C]!, carol] : [hubs[B]!, bob];
    const sync = await sendVia(
      net,
      other,
      device,
      frameOf(device, Opcode.SYNC_REQUEST, ROOM, 0n, { from: 0n, limit: 100 }),
    );
    expect(sync.opcode).toBe(Opcode.SYNC_PAGE);
    expect(decodePayload(Opcode.SYNC_PAGE, sync.frame.payload)).toMatchObject({ next: head, head });
  });

  it("is moved by the replicas' promise of a higher term, told on a catch-up page: the authority takes the room again", async () => {
    const { net, hubs, alice } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b] = [hubs[A]!, hubs[B]!];
    await promiseEachOther(net, 1n);
    // A's next entry reaches neither replica live (lost with the links, which go down).
    net.tamper = (m) => (m.from === A && inner(net, m).sequenced ? undefined : m);
    const last = appMessage(alice, ROOM, 1n, "last");
    await a.hub.handleFrame(alice.sessionId, alice.senderId, last);
    await net.settle();
    net.tamper = undefined;
    net.link(A, B, false);
    net.link(A, C, false);
    // The links come back: each replica fetches the entry in a catch-up page.
    net.link(A, B);
    net.link(A, C);
    await net.settle();
    const head = a.storage.nextIndex(ROOM);
    expect(b.storage.nextIndex(ROOM)).toBe(head);
    // Alice is told her entry is in the log: a majority holds it, in A's new term.
    expect(answerTo(a, alice, FrameHeader.view(last).requestId)?.opcode).toBe(Opcode.ACK);
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: A,
      term: 2n,
      commitIndex: head,
    });
  });

  it("is moved by a reclaim tried again when the first is refused, with no new write to prompt it (fed_hubs_churn seed 473)", async () => {
    const { net, hubs, alice } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: 1000 },
    });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    await promiseEachOther(net, 1n);
    // A's next entry tells it of the promises; its reclaim's proposals are held up.
    net.tamper = (m) =>
      m.from === A && inner(net, m).opcode === Opcode.AUTHORITY_PROPOSE ? undefined : m;
    const last = appMessage(alice, ROOM, 1n, "last");
    await a.hub.handleFrame(alice.sessionId, alice.senderId, last);
    await net.settle();
    expect(answerTo(a, alice, FrameHeader.view(last).requestId)).toBeUndefined();
    // Meanwhile B and C promise term 3 to each other: A's term 2, when it arrives, is refused.
    await promiseEachOther(net, 3n);
    net.tamper = undefined;
    // No write comes; only time passes.
    for (let step = 0; step < 60 && a.hub.federation!.roomAuthority(ROOM)!.term < 2n; step++) {
      net.time.advance(100);
      for (const h of [a, b, c]) h.hub.federation!.tick();
      await net.settle();
    }
    const head = a.storage.nextIndex(ROOM);
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: A,
      role: "sequencer",
      commitIndex: head,
    });
    expect(answerTo(a, alice, FrameHeader.view(last).requestId)?.opcode).toBe(Opcode.ACK);
  });

  it("is 0 at a restarted authority until the replicas report, not its log's length", async () => {
    const { net, hubs, alice } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const a = hubs[A]!;
    // A's last entry reaches the replicas, their reports of it never reach A: uncommitted.
    net.tamper = (m) =>
      m.to === A && inner(net, m).opcode === Opcode.FED_LOG_STATE ? undefined : m;
    await a.hub.handleFrame(alice.sessionId, alice.senderId, appMessage(alice, ROOM, 1n, "x"));
    await net.settle();
    const head = a.storage.nextIndex(ROOM);
    expect(a.hub.federation!.roomAuthority(ROOM)!.commitIndex).toBe(head - 1n);
    await net.crash(A);
    await net.restart(A);
    // Nothing reported yet (the replicas' reports are still lost): nothing counts committed.
    const status = a.hub.federation!.roomAuthority(ROOM)!;
    expect(status).toMatchObject({ authority: A, role: "sequencer" });
    expect(status.commitIndex).toBeLessThan(head);
  });
});
