/**
 * A hub's sequencer can still emit for a room after the hub lost it (issue 18 (c)): with
 * kalandrad's worker shards the write refusal travels with each request, so a request
 * routed while the hub was the authority is sequenced by the worker after a failover
 * deposed it. Its ACK, fan-out and copy for the replicas are of a term that gave way (the
 * new authority's log has another entry there): the runtimes drop them
 * (`FederationCore.staleShardOutput`), while what the federation relays for the room (the
 * new authority's answers, the replica's fan-out) still reaches the hub's sessions.
 * Real hub cores linked in memory (threeHubs.ts).
 */
import { ackFrame, stampSequence } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage } from "../sequencer/room.js";
import { A, B, ROOM, threeHubRoom } from "./threeHubs.js";

describe("what a former authority's shards emit for the room", () => {
  it("is stale once another hub sequences the room; the new authority's own output is not", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({ setup: { ackQuorum: "majority" } });
    const [a, b] = [hubs[A]!.hub.federation!, hubs[B]!.hub.federation!];
    const head = hubs[A]!.storage.nextIndex(ROOM);
    const ack = ackFrame({ requestId: 77, roomId: ROOM, epoch: 1n }, head, 1n);
    const toAlice = { kind: "session", sessionId: alice.sessionId } as const;
    const message = appMessage(alice, ROOM, 1n, "of a term that gave way");
    stampSequence(message, head, 1n);
    const fanOut = { kind: "members", roomId: ROOM, senderIds: [alice.senderId] } as const;
    const replicas = { kind: "replicas", roomId: ROOM, logIndex: head, peers: [] } as const;
    // A sequences the room: its shards' output is its own.
    expect(a.staleShardOutput(toAlice, ack)).toBe(false);
    expect(a.staleShardOutput(fanOut, message)).toBe(false);

    const moving = a.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    // As A's worker shard emits them for a request routed before A lost the room.
    expect(a.staleShardOutput(toAlice, ack)).toBe(true);
    expect(a.staleShardOutput(fanOut, message)).toBe(true);
    expect(a.staleShardOutput(replicas, message)).toBe(true);
    // The new authority's shards speak for the room.
    const toBob = { kind: "session", sessionId: bob.sessionId } as const;
    expect(b.staleShardOutput(toBob, ack)).toBe(false);
    expect(b.staleShardOutput(replicas, message)).toBe(false);
    // Not shard output: what the federation relays to A's sessions is routed as before.
    const relayed = ackFrame({ requestId: 79, roomId: ROOM, epoch: 1n }, head, 1n);
    expect(a.intercept(toAlice, relayed)).toBe(false);
  });
});
