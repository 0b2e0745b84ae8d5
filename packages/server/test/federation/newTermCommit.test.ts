/**
 * Majority mode after a failover (DESIGN §11; federation/replicaIntake.ts `giveWay`): the new
 * authority's commit point must cover the log it took over once the replicas learn where its
 * term starts, without waiting for the term's first entry. That entry may never come: when
 * the log ends in a commit the old authority never committed, no client sees it, every write
 * is refused STALE_EPOCH, and nothing is sequenced again (fed_hubs_transfer seed 35).
 */
import { decodePayload, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { frameOf } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, FAILOVER_MS, failover, ROOM, threeHubRoom } from "./threeHubs.js";
import { sendVia } from "./twoHubs.js";

describe("a new authority's commit point in majority mode", () => {
  it("covers the log it took over as soon as the replicas learn its term's start, with no new write", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    // A's last entry reaches B and C, but their reports of it never reach A: never committed.
    net.tamper = (m) => {
      if (m.to !== A) return m;
      const key = net.signers.get(m.from)!.publicKey;
      const op = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
      return op === Opcode.FED_LOG_STATE ? undefined : m;
    };
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
});
