/**
 * Federation with each hub's shards on their own storage, as kalandrad's worker shards
 * (each its own LMDB directory; twoHubs.ts `shardStorage`): a room grows in the shard that
 * sequences it, the main storage holds the replicas of rooms other hubs sequence. What a
 * hub states of a log it sequences comes from its shard (issue 18 (b)).
 */
import { decodePayload, Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { proposalOf, proposeFrame } from "../../src/federation/authority/authorityFrames.js";
import type { Proposal } from "../../src/federation/authority/statement.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, headers, ROOM, threeHubRoom, transferred } from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** The proposals `from` sent `to`, in order. */
function proposals(net: Net, from: string, to: string): Proposal[] {
  const key = net.signers.get(from)!.publicKey;
  return net.log
    .filter((m) => m.from === from && m.to === to)
    .map((m) => openEnvelope(m.bytes, key, { maxHops: 3 }).inner)
    .filter((f) => f.header.opcode === Opcode.AUTHORITY_PROPOSE)
    .map((f) => proposalOf(ROOM, decodePayload(Opcode.AUTHORITY_PROPOSE, f.payload)));
}

describe("federation with shards on their own storage", () => {
  it("the room grows in its authority's shard; the replicas and a planned transfer work", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom({
      shardStorage: true,
      setup: { ackQuorum: "majority" },
    });
    const sent = await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, "a1"));
    expect(sent.opcode).toBe(Opcode.ACK);
    await net.settle();
    const end = net.shardStorage.get(A)!.nextIndex(ROOM);
    expect(end).toBeGreaterThan(2n);
    expect(hubs[A]!.storage.nextIndex(ROOM)).toBe(0n);
    // The admin API's view of a room that never moved: its creating hub, term 0 (its term
    // record and book entry are made by its first transfer).
    const a = hubs[A]!.hub.federation!;
    expect(a.roomAuthority(ROOM)).toBeUndefined();
    expect(await a.roomAuthorityOf(ROOM)).toEqual({
      authority: A,
      term: 0n,
      role: "sequencer",
      commitIndex: end,
    });
    expect(await a.roomAuthorityOf(ROOM + 1n)).toBeUndefined();
    expect(await hubs[B]!.hub.federation!.roomAuthorityOf(ROOM)).toMatchObject({
      authority: A,
      term: 0n,
      role: "replica",
    });
    expect(hubs[B]!.storage.nextIndex(ROOM)).toBe(end);
    const moving = hubs[A]!.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toMatchObject({ ok: true, term: 1n });
    const moved = await sendVia(net, hubs[B]!, bob, appMessage(bob, ROOM, 1n, "b1"));
    expect(moved.opcode).toBe(Opcode.ACK);
    expect(net.shardStorage.get(B)!.nextIndex(ROOM)).toBe(end + 1n);
  });

  it.each([
    ["that never moved", false],
    ["moved A → B", true],
  ])(
    "a sitting authority of a room %s reclaims it stating its shard's log end, and keeps the log (issue 18 (b))",
    async (_, moved) => {
      const { net, hubs, alice, bob } = await threeHubRoom({
        shardStorage: true,
        setup: { ackQuorum: "majority" },
      });
      // X sequences the room (its shard's log grows), Y will propose itself, Z promise it.
      const [x, y, z, user] = moved ? [B, C, A, bob] : [A, B, C, alice];
      let term = 0n;
      if (moved) {
        await transferred(net, A, B, 1n);
        term = 1n;
      }
      const say = (text: string) => sendVia(net, hubs[x]!, user, appMessage(user, ROOM, 1n, text));
      for (const text of ["m1", "m2"]) expect((await say(text)).opcode).toBe(Opcode.ACK);
      const shard = net.shardStorage.get(x)!;
      const end = shard.nextIndex(ROOM);
      expect(hubs[x]!.storage.nextIndex(ROOM)).toBeLessThan(end);
      // Y, its link to X flapping, asked Z for the next term; Z promised it: X's frames are
      // refused there from now on, and X learns of the promise.
      const p: Proposal = {
        roomId: ROOM,
        term: term + 1n,
        from: x,
        to: y,
        proposer: y,
        position: end,
        lastTerm: term,
        voters: [A, B, C],
        nonce: new Uint8Array(16).fill(3),
        kind: "failover",
      };
      hubs[y]!.hub.federation!.sendHubFrame(z, proposeFrame(net.signers.get(y)!, p));
      await net.settle();
      await hubs[x]!.hub.handleFrame(
        user.sessionId,
        user.senderId,
        appMessage(user, ROOM, 1n, "m3"),
      );
      await net.settle();
      // X proposes itself above the promised term, from where its log really ends, and wins.
      const reclaim = proposals(net, x, z).find((q) => q.term === term + 2n);
      expect(reclaim).toMatchObject({ from: x, to: x, position: end + 1n });
      const status = hubs[x]!.hub.federation!.roomAuthority(ROOM);
      expect(status).toMatchObject({ authority: x, term: term + 2n, role: "sequencer" });
      // Its term starts at the log's end: no replica gives its log up, the room goes on.
      const after = await say("m4");
      expect(after.error?.name ?? after.opcode).toBe(Opcode.ACK);
      await net.settle();
      expect(shard.nextIndex(ROOM)).toBe(end + 2n);
      const log = shard.readRange(ROOM, 0n, 1000).map((f) => Buffer.from(f.header).toString("hex"));
      for (const d of [y, z]) {
        const events = hubs[d]!.storage.readAudit().map((r) => r.detail.event);
        expect(events).not.toContain("tail_discarded");
        expect(headers(hubs[d]!)).toEqual(log);
      }
    },
  );
});
