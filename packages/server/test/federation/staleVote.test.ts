/**
 * A hub that handed a room over votes with the log it really holds (heldLog.ts). With shards
 * on their own storage (kalandrad's worker shards; twoHubs.ts `shardStorage`) the room grew in
 * the shard of the hub that sequenced it, and its main storage's replica lacks those entries
 * until it fetched them from the new authority. Voting from the replica, the hub granted a
 * failover candidate lacking entries it had sequenced and acknowledged itself.
 */
import { Opcode, openEnvelope } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage } from "../sequencer/room.js";
import {
  A,
  B,
  C,
  FAILOVER_MS,
  failover,
  ROOM,
  threeHubRoom,
  transferred,
  votes,
} from "./threeHubs.js";
import { type Message, type Net, sendVia } from "./twoHubs.js";

const AUTHORITY_OPCODES: ReadonlySet<number> = new Set([
  Opcode.AUTHORITY_PROPOSE,
  Opcode.AUTHORITY_VOTE,
  Opcode.HANDOVER_CERT,
  Opcode.AUTHORITY_COMMIT,
]);

/** Of the links `from → to` listed, only authority frames pass: no entry, no catch-up page. */
function onlyAuthorityFrames(net: Net, cut: readonly (readonly [string, string])[]) {
  return (m: Message): Message | undefined => {
    if (!cut.some(([from, to]) => m.from === from && m.to === to)) return m;
    const key = net.signers.get(m.from)!.publicKey;
    const opcode = openEnvelope(m.bytes, key, { maxHops: 3 }).inner.header.opcode;
    return AUTHORITY_OPCODES.has(opcode) ? m : undefined;
  };
}

/**
 * X sequences the room (a room that never moved: A; else B, after A → B) and hands it to Y by
 * a planned transfer, with `zMisses`: Z gets none of X's entries from then on. Neither X's
 * replica nor Z's gets Y's copy of the log; Y crashes at once.
 */
async function handOverThenCrash(moved: boolean, zMisses: boolean) {
  const { net, hubs, alice, bob } = await threeHubRoom({
    shardStorage: true,
    setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
  });
  const [x, y, z, user] = moved ? [B, A, C, bob] : [A, B, C, alice];
  let term = 0n;
  if (moved) {
    await transferred(net, A, B, 1n);
    term = 1n;
  }
  if (zMisses) net.tamper = onlyAuthorityFrames(net, [[x, z]]);
  for (const text of ["m1", "m2"]) {
    const sent = await sendVia(net, hubs[x]!, user, appMessage(user, ROOM, 1n, text));
    expect(sent.opcode).toBe(Opcode.ACK);
  }
  const acknowledged = net.shardStorage.get(x)!.nextIndex(ROOM);
  net.tamper = onlyAuthorityFrames(net, [...(zMisses ? [[x, z] as const] : []), [y, x], [y, z]]);
  await transferred(net, x, y, term + 1n);
  expect(hubs[x]!.storage.nextIndex(ROOM)).toBeLessThan(acknowledged);
  expect(hubs[z]!.storage.nextIndex(ROOM)).toBe(zMisses ? acknowledged - 2n : acknowledged);
  expect(hubs[y]!.storage.nextIndex(ROOM)).toBe(acknowledged);
  net.tamper = undefined;
  await net.crash(y);
  return { net, x, y, z, term: term + 1n, acknowledged };
}

/** Z's link to Y is down: Z proposes itself (again, higher, after each expiry) for 4 s. */
async function electionTime(net: Net, hubs: readonly string[]): Promise<void> {
  for (let step = 0; step < 80; step++) {
    net.time.advance(FAILOVER_MS / 20);
    for (const d of hubs) net.hub(d).hub.federation!.tick();
    await net.settle();
  }
}

describe("a hub that handed a room over, with shards on their own storage", () => {
  it.each([
    ["that never moved (its replica is empty)", false],
    ["that it had taken over (its replica stopped there)", true],
  ])(
    "votes with its shard's log end for a room %s, refusing a candidate that lacks entries it acknowledged",
    async (_, moved) => {
      const { net, x, y, z, term } = await handOverThenCrash(moved, true);
      await electionTime(net, [x, z]);
      const answers = votes(net, x, z).filter((v) => v.term > term);
      expect(answers.length).toBeGreaterThan(0);
      for (const v of answers) {
        expect(v).toMatchObject({ approve: false, refusal: "CANDIDATE_BEHIND" });
      }
      for (const d of [x, z]) {
        expect(net.hub(d).hub.federation!.roomAuthority(ROOM)).toMatchObject({
          authority: y,
          term,
        });
      }
    },
  );

  it.each([
    ["that never moved", false],
    ["that it had taken over", true],
  ])(
    "grants a candidate holding every entry of its shard for a room %s: the candidate takes the room over",
    async (_, moved) => {
      const { net, x, z, term, acknowledged } = await handOverThenCrash(moved, false);
      await electionTime(net, [x, z]);
      expect(votes(net, x, z).filter((v) => v.approve && v.term > term)).toHaveLength(1);
      for (const d of [x, z]) {
        expect(net.hub(d).hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: z });
      }
      expect(net.shardStorage.get(z)!.nextIndex(ROOM)).toBeGreaterThanOrEqual(acknowledged);
    },
  );

  it("refuses failover votes once deposed, while its replica lacks what its shard holds and it cannot tell which entries the room kept", async () => {
    const { net, hubs, alice } = await threeHubRoom({
      shardStorage: true,
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    // A sequences; C gets none of its entries from now on: what A acknowledges, A and B hold.
    net.tamper = onlyAuthorityFrames(net, [[A, C]]);
    for (const text of ["m1", "m2"]) {
      const sent = await sendVia(net, hubs[A]!, alice, appMessage(alice, ROOM, 1n, text));
      expect(sent.opcode).toBe(Opcode.ACK);
    }
    const acknowledged = net.shardStorage.get(A)!.nextIndex(ROOM);
    // A crashes; B (the longer log) takes the room over; neither A's replica nor C's gets
    // B's copy of the log.
    net.tamper = onlyAuthorityFrames(net, [
      [A, C],
      [B, A],
      [B, C],
    ]);
    await net.crash(A);
    expect(await failover(net, [B, C])).toBe(B);
    const term = hubs[B]!.hub.federation!.roomAuthority(ROOM)!.term; // after split votes, maybe
    await net.restart(A);
    await net.settle();
    expect(hubs[A]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ authority: B, term });
    expect(hubs[A]!.storage.nextIndex(ROOM)).toBeLessThan(acknowledged);
    expect(hubs[C]!.storage.nextIndex(ROOM)).toBe(acknowledged - 2n);
    net.tamper = undefined;
    await net.crash(B);
    await electionTime(net, [A, C]);
    const answers = votes(net, A, C).filter((v) => v.term > term);
    expect(answers.length).toBeGreaterThan(0);
    for (const v of answers) {
      expect(v).toMatchObject({ approve: false, refusal: "CANDIDATE_BEHIND" });
    }
    for (const d of [A, C]) {
      expect(net.hub(d).hub.federation!.roomAuthority(ROOM)).toMatchObject({
        authority: B,
        term,
      });
    }
  });
});
