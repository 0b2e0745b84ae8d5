/**
 * A hub handing a room over keeps its log until its successor sequences (DESIGN §11;
 * federation/replicaIntake.ts `pageArrived`): its log is the one the successor takes.
 * fed_hubs_transfer seed 398: b, handing the room to c, asked c for a catch-up when their
 * link came back; c, which had handed the room to b a term before and had not learnt of the
 * new transfer, answered with its own, shorter log, and b dropped its whole log for it,
 * acknowledged entries included.
 */
import { Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage } from "../sequencer/room.js";
import { A, B, headers, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Message, type Net, sendVia } from "./twoHubs.js";

function opcodeOf(net: Net, m: Message): number {
  const key = net.signers.get(m.from)!.publicKey;
  return openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
}

describe("a hub handing a room back to the hub that handed it over", () => {
  it("keeps its log when that hub answers its catch-up with a shorter one", async () => {
    const { net, hubs, bob } = await threeHubRoom();
    const [a, b] = [hubs[A]!, hubs[B]!];
    const first = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await first).toEqual({ ok: true, term: 1n });
    // B sequences an entry A never gets; from now on A hears nothing of B but its catch-ups.
    net.tamper = (m) =>
      m.from === B && m.to === A && opcodeOf(net, m) !== Opcode.SYNC_REQUEST ? undefined : m;
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "x"))).opcode).toBe(Opcode.ACK);
    await net.settle();
    const kept = headers(b);
    expect(headers(a).length).toBeLessThan(kept.length);
    // B hands the room back to A (C's vote and its own elect A), which learns nothing of it.
    void b.hub.federation!.transfer(ROOM, A);
    await net.settle();
    expect(b.hub.federation!.roomAuthority(ROOM)?.role).toBe("handing_over");
    // Their link goes down and up: B catches up from A, which answers from its shorter log.
    net.link(A, B, false);
    net.link(A, B);
    await net.settle();
    expect(headers(a).length).toBeLessThan(kept.length);
    expect(headers(b)).toEqual(kept);
    // The certificate and the log's end reach A once sent again: A takes B's whole log.
    net.tamper = undefined;
    for (let i = 0; i < 5; i++) {
      net.time.advance(1000);
      for (const e of net.hubs.values()) e.hub.federation!.tick();
      await net.settle();
    }
    expect(a.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: A, term: 2n });
    expect(headers(a).slice(0, kept.length)).toEqual(kept);
  });
});
