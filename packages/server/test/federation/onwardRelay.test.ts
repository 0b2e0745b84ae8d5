/**
 * Onward relay between real hubs in one process (issue 18 (g); docs/federation.md "Onward
 * relay"): A and C have no link of their own and reach each other through B. A room on A
 * with carol@c works through B; B cannot forge, replay or stretch what it relays.
 */
import {
  decodePayload,
  type FedEnvelopePayload,
  forwardEnvelope,
  Opcode,
  openEnvelope,
  sealEnvelope,
  verifyFrame,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { deliveredTo, frameOf, makeClient } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, headers, ROOM, threeHubRoom } from "./threeHubs.js";
import { type Message, type Net, sendVia } from "./twoHubs.js";

/** A and C reach each other through B; B is linked to both. */
const routes = { [A]: { [C]: B }, [C]: { [A]: B } };

function opened(net: Net, m: Message): FedEnvelopePayload {
  return openEnvelope(m.bytes, net.signers.get(m.from)!.publicKey, { maxHops: 3 }).envelope;
}

describe("onward relay: A and C linked only through B", () => {
  it("a room on A with carol@c: claim, Welcome, messages both ways and sync, all through B", async () => {
    const { net, hubs, alice, carol } = await threeHubRoom({ routes });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    expect(deliveredTo(c, carol.senderId, Opcode.WELCOME)).toHaveLength(1);
    const sent = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "from c"));
    expect(sent.opcode).toBe(Opcode.ACK);
    expect(verifyFrame(sent.frame, c.hubSigner.publicKey)).toBe(true);
    expect(deliveredTo(a, alice.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    const back = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "from a"));
    expect(back.opcode).toBe(Opcode.ACK);
    expect(deliveredTo(c, carol.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    // C's replica is A's log, position for position; sync is served from it, locally.
    expect(headers(c)).toEqual(headers(a));
    const before = net.log.length;
    const page = await sendVia(
      net,
      c,
      carol,
      frameOf(carol, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 }),
    );
    expect(net.log.length).toBe(before);
    expect(decodePayload(Opcode.SYNC_PAGE, page.frame.payload).head).toBe(
      a.storage.nextIndex(ROOM),
    );
    // Nothing ever went between A and C directly; B relayed, hop 2, the origin kept.
    const direct = net.log.filter(
      (m) => (m.from === A && m.to === C) || (m.from === C && m.to === A),
    );
    expect(direct).toEqual([]);
    const relayedToC = net.log.filter((m) => m.from === B && m.to === C).map((m) => opened(net, m));
    expect(relayedToC.some((e) => e.origin === A && e.hops === 2 && e.dest === C)).toBe(true);
    expect(b.hub.federation!.relay.forwarded).toBeGreaterThan(0);
    // B (bob's home) is a replica as well; relaying refused nothing anywhere.
    expect(headers(b)).toEqual(headers(a));
    for (const env of [a, b, c]) expect(env.hub.federation!.refused.size).toBe(0);
  });

  it("a chain A-B-D-C: three hops each way, every relay passing it on, the room whole on C", async () => {
    const D = "d.example";
    const chain = {
      [A]: { [C]: B, [D]: B },
      [B]: { [C]: D },
      [D]: { [A]: B },
      [C]: { [A]: D, [B]: D },
    };
    const { net, hubs, alice, carol } = await threeHubRoom({ routes: chain }, [D]);
    const [a, c] = [hubs[A]!, hubs[C]!];
    const sent = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "far"));
    expect(sent.opcode).toBe(Opcode.ACK);
    expect(deliveredTo(a, alice.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "back"));
    expect(deliveredTo(c, carol.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    expect(headers(c)).toEqual(headers(a));
    const atC = net.log.filter((m) => m.to === C).map((m) => opened(net, m));
    expect(atC.some((e) => e.origin === A && e.hops === 3)).toBe(true);
    const links = new Set(net.log.map((m) => [m.from, m.to].sort().join("|")));
    expect([...links].sort()).toEqual([`${A}|${B}`, `${B}|${D}`, `${C}|${D}`]);
    for (const d of [A, B, C, D]) expect(net.hub(d).hub.federation!.refused.size).toBe(0);
  });

  it("C is reachable from A while B's links are up, and not once B-C goes down", async () => {
    const { net, hubs } = await threeHubRoom({ routes });
    const fedA = hubs[A]!.hub.federation!;
    expect(fedA.isUp(C)).toBe(true);
    net.link(A, B, false);
    expect(fedA.isUp(C)).toBe(false);
    net.link(A, B);
    expect(fedA.isUp(C)).toBe(true);
    // B-C down: A still sends through B, which drops it typed (it cannot forward), never stores.
    net.link(B, C, false);
    const carolOfA = await makeClient(hubs[A]!, `dave@${A}`);
    await hubs[A]!.hub.handleFrame(
      carolOfA.sessionId,
      carolOfA.senderId,
      frameOf(carolOfA, Opcode.KP_CLAIM, 0n, 0n, { user_id: `carol@${C}` }),
    );
    await net.settle();
    expect(hubs[B]!.hub.federation!.refused.get("PEER_UNREACHABLE")).toBe(1);
  });

  it("B cannot forge an origin's word, replay it, or relay for a hub it is not the route of", async () => {
    const { net, hubs, carol } = await threeHubRoom({ routes }, ["d.example"]);
    const a = hubs[A]!;
    const c = hubs[C]!;
    const captured: Message[] = [];
    net.tamper = (m) => {
      if (m.from === B && m.to === A) captured.push(m);
      return m;
    };
    const sent = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "once"));
    expect(sent.opcode).toBe(Opcode.ACK);
    net.tamper = undefined;
    const genuine = captured.map((m) => opened(net, m)).find((e) => e.user_id === `carol@${C}`)!;
    expect(genuine.origin).toBe(C);
    const length = a.storage.nextIndex(ROOM);
    const fedA = a.hub.federation!;
    const signerB = net.signers.get(B)!;
    const resealed = (e: FedEnvelopePayload, by = signerB) =>
      openEnvelope(
        sealEnvelope(by, {
          origin: e.origin,
          forwardedAt: e.forwarded_at,
          hops: 1,
          frame: e.frame,
          ...(e.user_id === undefined ? {} : { userId: e.user_id }),
          ...(e.device_key === undefined ? {} : { deviceKey: e.device_key }),
          dest: A,
        }),
        by.publicKey,
        { maxHops: 3 },
      ).envelope;
    // Exactly what B relayed, again: the origin's signature holds, but once only.
    fedA.linkFrame(B, forwarded(net, B, genuine));
    // B speaks for carol with a user id of its choosing: C's signature no longer covers it.
    fedA.linkFrame(B, forwarded(net, B, { ...genuine, user_id: `mallory@${C}` }));
    // B seals as if it were C (its own key under origin_sig): not C's signature.
    fedA.linkFrame(B, forwarded(net, B, { ...resealed(genuine), hops: 1 }));
    // Claims the origin without relaying (no dest): only a direct link speaks for itself.
    const { dest: _d, origin_sig: _s, ...bare } = genuine;
    fedA.linkFrame(B, forwarded(net, B, { ...bare, hops: 0 }));
    // D, linked to A, passes on C's genuine envelope: D is not the route A has to C.
    fedA.linkFrame("d.example", forwarded(net, "d.example", { ...genuine, hops: 1 }));
    await net.settle();
    expect(Object.fromEntries(fedA.refused)).toEqual({
      REPLAYED_ENVELOPE: 1,
      BAD_HUB_SIGNATURE: 2,
      PEER_BLOCKED: 2,
    });
    expect(a.storage.nextIndex(ROOM)).toBe(length);
  });

  it("B drops an envelope that would go past max_hops, and refuses to relay to or for strangers", async () => {
    const { net, hubs, alice } = await threeHubRoom({ routes });
    const fedB = hubs[B]!.hub.federation!;
    const frame = appMessage(alice, ROOM, 1n, "far");
    const from = (hops: number, dest: string, origin = A) =>
      sealEnvelope(net.signers.get(A)!, { origin, forwardedAt: 0n, hops, frame, dest });
    const before = net.log.length;
    const relayed = fedB.relay.forwarded;
    fedB.linkFrame(A, from(3, C)); // B would send hop 4 of 3
    fedB.linkFrame(A, from(1, "x.example")); // not a peer of B
    fedB.linkFrame(A, from(1, C, "x.example")); // A relaying for a stranger: refused at B
    await net.settle();
    expect(Object.fromEntries(fedB.refused)).toEqual({
      TOO_MANY_HOPS: 1,
      PEER_NOT_CONFIGURED: 2,
    });
    expect(net.log.length).toBe(before);
    expect(fedB.relay.forwarded).toBe(relayed);
  });
});

/** `e` as `by` would forward it on its link (hops + 1, signed by `by`). */
function forwarded(net: Net, by: string, e: FedEnvelopePayload): Uint8Array {
  return forwardEnvelope(net.signers.get(by)!, e);
}
