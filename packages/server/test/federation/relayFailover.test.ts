/**
 * Failover when a voter reaches the room's authority only through a relay (onward relay,
 * docs/federation.md): the relay's link stays up when the authority dies, so the voter must
 * notice the silence itself (the routed peers' keepalive, onwardRelay.ts).
 */
import { Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, ROOM, threeHubRoom } from "./threeHubs.js";
import { sendVia } from "./twoHubs.js";

const FAILOVER_MS = 1000;
const routes = { [A]: { [C]: B }, [C]: { [A]: B } };

describe("failover across a relay", () => {
  it("C, reaching A only through B, notices A's silence and the room fails over to B or C", async () => {
    const { net, hubs, bob, carol } = await threeHubRoom({
      routes,
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const b1 = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    expect(b1.opcode).toBe(Opcode.ACK);
    await net.crash(A);
    // B's link to C stays up: only C's own keepalive over B tells it A is gone.
    expect(hubs[C]!.hub.federation!.isUp(A)).toBe(true);
    const fedC = hubs[C]!.hub.federation!;
    let winner: string | undefined;
    let silentAt: number | undefined;
    for (let step = 0; step < 400 && (winner === undefined || silentAt === undefined); step++) {
      net.time.advance(FAILOVER_MS / 20);
      for (const d of [B, C]) net.hub(d).hub.federation!.tick();
      await net.settle();
      winner = [B, C].find((d) => net.hub(d).hub.federation!.roomAuthority(ROOM)?.authority === d);
      if (silentAt === undefined && !fedC.isUp(A)) silentAt = step;
    }
    expect(winner).toBeDefined();
    // Two keepalive intervals (5 s each by default) of silence, not before.
    expect(silentAt! * (FAILOVER_MS / 20)).toBeGreaterThanOrEqual(10_000);
    expect(silentAt! * (FAILOVER_MS / 20)).toBeLessThanOrEqual(15_000);
    const c1 = await sendVia(net, hubs[C]!, carol, appMessage(carol, ROOM, 1n, "c1"));
    expect(c1.opcode).toBe(Opcode.ACK);
    // A comes back: its first frame through B (its own keepalive) makes it reachable again.
    await net.restart(A);
    for (let i = 0; i < 3 && !fedC.isUp(A); i++) {
      hubs[A]!.hub.federation!.tick();
      await net.settle();
    }
    expect(fedC.isUp(A)).toBe(true);
  });
});
