/**
 * Raft's "Figure 8" (Ongaro and Ousterhout, §5.4.2) on five real hubs in `"majority"` mode
 * (docs/federation.md "Known gap: committing an earlier term's entries"): an authority that
 * counts an entry of an earlier term committed because a majority holds it, with no entry of
 * its own term after it, can see that entry replaced by a hub whose last entry is of a term
 * in between, elected by the voters whose last entry is older still. The vote must know the
 * voters' logs reached the current term's start (their last term is that term's), and the
 * commit point count a voter only then.
 */
import { decodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { answerTo, type Client, type Env, frameOf } from "../hub/harness.js";
import { commit, process } from "../mls/mlsClients.js";
import { appMessage } from "../sequencer/room.js";
import { D, E, fiveHubRoom, opcodeOf } from "./fiveHubs.js";
import { A, B, C, FAILOVER_MS, failover, ROOM, tickUntil, votes } from "./threeHubs.js";
import { type Message, sendVia } from "./twoHubs.js";

const majority = { setup: { ackQuorum: "majority" as const, failoverAfterMs: FAILOVER_MS } };

/** Which of the `named` frames (same sender, same request) `env` holds at `index`. */
function entryAt(env: Env, index: bigint, named: Record<string, Uint8Array>): string {
  const stored = env.storage.readRange(ROOM, index, 1)[0];
  if (stored === undefined) return "nothing";
  const h = FrameHeader.view(stored.header);
  for (const [name, bytes] of Object.entries(named)) {
    const f = FrameHeader.view(bytes);
    if (h.senderId === f.senderId && h.requestId === f.requestId) return name;
  }
  return `request ${h.requestId} of sender ${h.senderId}`;
}

/** True for a message between the two hubs, either way. */
const between = (m: Message, a: string, b: string) =>
  (m.from === a && m.to === b) || (m.from === b && m.to === a);

describe("Raft Figure 8 on five real hubs (majority mode)", () => {
  it("an entry committed by a later term's authority is not replaced by a hub whose last entry is of a term in between", async () => {
    const { net, hubs, alice, erin } = await fiveHubRoom(majority);
    const status = (d: string) => hubs[d]!.hub.federation!.roomAuthority(ROOM)!;
    const n = hubs[A]!.storage.nextIndex(ROOM);

    // 1. A (term 0) sequences x at n; only B receives it: 2 of 5 hold it, not committed.
    net.tamper = (m) => (m.from === A && m.to !== B ? undefined : m);
    const x = appMessage(alice, ROOM, 1n, "x");
    await hubs[A]!.hub.handleFrame(alice.sessionId, alice.senderId, x);
    await net.settle();
    const requestX = FrameHeader.view(x).requestId;
    expect(answerTo(hubs[A]!, alice, requestX)).toBeUndefined();
    expect([A, B, C, D, E].map((d) => hubs[d]!.storage.nextIndex(ROOM))).toEqual([
      n + 1n,
      n + 1n,
      n,
      n,
      n,
    ]);
    await net.crash(A);

    // 2. E proposes term 1 from its log (term 0, n): C and D grant it (their logs are as
    // long), B refuses (it holds x). E sequences y at n, which no other hub receives (only
    // E's proposal leaves it).
    net.tamper = (m) =>
      m.from === E && opcodeOf(net, m) !== Opcode.AUTHORITY_PROPOSE ? undefined : m;
    expect(await failover(net, [E])).toBe(E);
    expect(status(E)).toMatchObject({ authority: E, term: 1n, role: "sequencer" });
    expect(votes(net, B, E).map((v) => v.refusal)).toEqual(["CANDIDATE_BEHIND"]);
    expect([C, D].map((d) => votes(net, d, E)[0]?.approve)).toEqual([true, true]);
    const y = appMessage(erin, ROOM, 1n, "y");
    await hubs[E]!.hub.handleFrame(erin.sessionId, erin.senderId, y);
    await net.settle();
    const named = { x, y };
    expect([A, B, C, D, E].map((d) => entryAt(hubs[d]!, n, named))).toEqual([
      "x",
      "x",
      "nothing",
      "nothing",
      "y",
    ]);
    await net.crash(E);

    // 3. A comes back (D cut off from it). C, which promised term 1, catches up from A and
    // says so: A takes the room again in term 2 with A, B and C (A's log (0, n + 1) is as
    // complete as any of theirs), and its commit point passes n once B and C report its log.
    net.tamper = (m) => (between(m, A, D) ? undefined : m);
    await net.restart(A);
    hubs[A]!.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);
    const committed = () => {
      const s = status(A);
      return s.authority === A && s.term === 2n && s.commitIndex > n;
    };
    expect(await tickUntil(net, [A, B, C], committed, 100)).toBe(true);
    const grants = [B, C, D].map((d) => votes(net, d, A).map((v) => [v.term, v.approve]));
    expect(grants).toEqual([[[2n, true]], [[2n, true]], []]);
    expect([A, B, C, D].map((d) => entryAt(hubs[d]!, n, named))).toEqual([
      "x",
      "x",
      "x",
      "nothing",
    ]);
    // x is acknowledged to its sender: its retry (same request) is answered ACK at n.
    const acked = await sendVia(net, hubs[A]!, alice, x);
    expect(acked.error?.name ?? acked.opcode).toBe(Opcode.ACK);
    expect(acked.frame.header.logIndex).toBe(n);

    // 4. E comes back and learns term 2 (A's certificate reaches it; where the term starts,
    // and A's log, do not), then A stops. E proposes term 3 from its log (term 1, n + 1).
    net.tamper = (m) =>
      between(m, A, D) || (m.from === A && m.to === E && opcodeOf(net, m) !== Opcode.HANDOVER_CERT)
        ? undefined
        : m;
    await net.restart(E);
    await net.settle();
    expect(status(E)).toMatchObject({ authority: A, term: 2n, role: "replica" });
    expect(entryAt(hubs[E]!, n, named)).toBe("y");
    await net.crash(A);
    net.tamper = undefined;
    const live = [B, C, D, E];
    const sequencing = () => live.filter((d) => status(d).authority === d && status(d).term > 2n);
    // E's failover timer runs first (B, C and D would propose themselves, later).
    await tickUntil(net, [E], () => false, 100);

    // Safe: E, whose log lacks x, wins no term above 2 ...
    expect
      .soft(sequencing(), "hubs that took the room above term 2 on E's proposal")
      .not.toContain(E);
    // ... and once every hub's timer runs, the room goes on from a log holding x at n.
    await tickUntil(net, live, () => sequencing().length > 0, 200);
    await net.settle();
    expect(sequencing()).toHaveLength(1);
    const held = live.map((d) => [d, status(d).term, entryAt(hubs[d]!, n, named)]);
    expect(held, "each hub's term and entry at n once the room goes on").toEqual(
      live.map((d) => [d, status(sequencing()[0]!).term, "x"]),
    );
  });

  it("a new authority whose log ends in a commit no client saw yet commits it with no new write (fed_hubs_transfer seed 35)", async () => {
    const { net, hubs, alice, bob, carol, dave, erin } = await fiveHubRoom(majority);
    const members: Record<string, Client> = { [B]: bob, [C]: carol, [D]: dave, [E]: erin };
    const a = hubs[A]!;
    // alice commits (covering A's proposal enlisting the voters); every replica receives the
    // commit, none of their reports reaches A: not committed, shown to no client.
    net.tamper = (m) => (m.to === A && opcodeOf(net, m) === Opcode.FED_LOG_STATE ? undefined : m);
    const made = await commit(a.cs, alice.state!);
    const sent = frameOf(alice, Opcode.COMMIT, ROOM, 1n, {
      commit: made.commit,
      group_info: made.groupInfo,
    });
    await a.hub.handleFrame(alice.sessionId, alice.senderId, sent);
    await net.settle();
    expect(answerTo(a, alice, FrameHeader.view(sent).requestId)).toBeUndefined();
    const head = a.storage.nextIndex(ROOM);
    for (const d of [B, C, D, E]) expect(hubs[d]!.storage.nextIndex(ROOM)).toBe(head);
    // No client may write at epoch 1 any more, and none learns epoch 2: nothing new comes.
    const stale = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "late"));
    expect(stale.error?.name).toBe("STALE_EPOCH");
    net.tamper = undefined;
    await net.crash(A);

    const winner = await failover(net, [B, C, D, E]);
    await net.settle();
    // The new term starts at `head`: its commit point reaches it with no entry of its own.
    expect(hubs[winner]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({
      authority: winner,
      term: 1n,
      role: "sequencer",
      commitIndex: head,
    });
    // A member on another hub reads the commit, applies it and writes at epoch 2.
    const other = [B, C, D, E].find((d) => d !== winner)!;
    const m = members[other]!;
    const sync = await sendVia(
      net,
      hubs[other]!,
      m,
      frameOf(m, Opcode.SYNC_REQUEST, ROOM, 1n, { from: head - 1n, limit: 10 }),
    );
    expect(sync.opcode).toBe(Opcode.SYNC_PAGE);
    const page = decodePayload(Opcode.SYNC_PAGE, sync.frame.payload);
    expect(page).toMatchObject({ next: head, head });
    expect(FrameHeader.view(page.entries[0]!.header).opcode).toBe(Opcode.COMMIT);
    m.state = await process(hubs[other]!.cs, m.state!, made.commitMessage);
    const next = await sendVia(net, hubs[other]!, m, appMessage(m, ROOM, 2n, "after"));
    expect(next.error?.name ?? next.opcode).toBe(Opcode.ACK);
    expect(next.frame.header.logIndex).toBe(head);
  });
});
