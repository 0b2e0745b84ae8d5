/**
 * A sitting authority reclaims its room (a voter promised a higher term: failover.ts
 * `reclaim`), and before its votes come back it learns that another hub took the room
 * over in a lower term starting inside its log, so it gives that log up (giveWay). Its
 * reclaim is then won for a log it no longer holds (fed_hubs_failover seed 37, with hub
 * enlisting on: the new authority's sequencer appended past its storage's end and stopped
 * the room, INTERNAL "room storage failed", and its term announced a start at 0).
 */
import { type Frame, hubFrame, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, FAILOVER_MS, failover, headers, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Message, type Net, sendVia } from "./twoHubs.js";

/** The inner frame's opcode of a message between hubs. */
function opcodeOf(net: Net, m: Message): number {
  const key = net.signers.get(m.from)!.publicKey;
  return (openEnvelope(m.bytes, key, { maxHops: 3 }).inner as Frame).header.opcode;
}

describe("a reclaim won after the hub gave its log up", () => {
  it("is not used: the hub stays a replica, no log is dropped, writes go on (fed_hubs_failover seed 37)", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({
      setup: { failoverAfterMs: FAILOVER_MS },
    });
    const a = hubs[A]!;
    expect((await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"))).opcode).toBe(
      Opcode.ACK,
    );
    await net.settle();
    // A is cut off and sequences a tail no replica gets; B or C takes the room over in term 1.
    net.link(A, B, false);
    net.link(A, C, false);
    await a.hub.handleFrame(alice.sessionId, alice.senderId, appMessage(alice, ROOM, 1n, "tail"));
    await net.settle();
    const winner = await failover(net, [B, C]);
    const w = hubs[winner]!;
    const kept = headers(w);
    // A hears neither the new term nor where it starts, nor any vote, for now.
    const held: Message[] = [];
    const hold = new Set<number>([
      Opcode.HANDOVER_CERT,
      Opcode.AUTHORITY_COMMIT,
      Opcode.AUTHORITY_VOTE,
    ]);
    net.tamper = (m) => {
      if (m.to !== A || !hold.has(opcodeOf(net, m))) return m;
      held.push(m);
      return undefined;
    };
    net.link(A, B);
    net.link(A, C);
    // The winner says its commit point in term 1 (as it does whenever it moves, majority
    // mode): A, still sequencing in term 0, takes the room again above it (reclaim).
    const head = w.storage.nextIndex(ROOM);
    const state = { term: 1n, durable: head, commit: head };
    const logState = hubFrame(net.signers.get(winner)!, Opcode.FED_LOG_STATE, ROOM, 0n, state);
    w.hub.federation!.sendHubFrame(A, logState);
    await net.settle();
    expect(held.some((m) => opcodeOf(net, m) === Opcode.AUTHORITY_VOTE)).toBe(true);
    // Term 1's certificate and start reach A: A gives its log up and fetches it from the winner.
    const votes = held.filter((m) => opcodeOf(net, m) === Opcode.AUTHORITY_VOTE);
    net.queue.push(...held.filter((m) => !votes.includes(m)));
    held.length = 0;
    hold.clear();
    await net.settle();
    expect(headers(a)).toEqual(kept);
    // Now the votes for A's reclaim arrive: a majority, for a log A no longer holds.
    net.queue.push(...votes);
    await net.settle();
    net.tamper = undefined;
    for (let i = 0; i < 10; i++) {
      net.time.advance(FAILOVER_MS / 2);
      for (const e of net.hubs.values()) e.hub.federation!.tick();
      await net.settle();
    }
    // A never sequences from the log it gave up; the room goes on at one authority.
    const next = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "later"));
    expect(next.error?.name ?? next.opcode).toBe(Opcode.ACK);
    await net.settle();
    const auth = a.hub.federation!.roomAuthority(ROOM);
    expect(auth?.authority).not.toBe(A);
    const sequencer = hubs[auth!.authority]!;
    expect(headers(sequencer).slice(0, kept.length)).toEqual(kept);
    for (const d of [A, B, C]) expect(headers(hubs[d]!)).toEqual(headers(sequencer));
  });
});
