/** Rooms across two hubs in one process (DESIGN §11, issue 18): real hub cores, real MLS. */
import {
  type DeviceSigner,
  decodePayload,
  Frame,
  hubFrame,
  Opcode,
  openEnvelope,
  sealEnvelope,
  verifyFrame,
} from "@kalandra/proto";
import { encodeMlsMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { type Client, deliveredTo, type Env, frameOf, makeClient } from "../hub/harness.js";
import { commit, createRoom, groupInfoBytes, join } from "../mls/mlsClients.js";
import { appMessage } from "../sequencer/room.js";
import { applyHubProposals, hubProposals, uploadKeyPackage } from "./threeHubs.js";
import { federation, type Net, sendVia } from "./twoHubs.js";

const A = "a.example";
const B = "b.example";
const ROOM = 0x0a0b_0c0d_0e0f_1011_1213_1415_1617_1819n;

interface CrossRoom {
  net: Net;
  a: Env;
  b: Env;
  alice: Client;
  bob: Client;
}

/** alice@a creates ROOM on A, claims bob@b's key package through B, and adds him. */
async function crossRoom(net?: Net): Promise<CrossRoom> {
  net ??= await federation([A, B]);
  const a = net.hub(A);
  const b = net.hub(B);
  const alice = await makeClient(a, `alice@${A}`);
  const bob = await makeClient(b, `bob@${B}`);
  const kp = await uploadKeyPackage(net, b, bob);
  alice.state = await createRoom(a.cs, a.hubMls, alice.device, ROOM);
  const created = await sendVia(
    net,
    a,
    alice,
    frameOf(alice, Opcode.ROOM_CREATE, ROOM, 0n, {
      group_info: await groupInfoBytes(a.cs, alice.state),
      join_rule: "invite",
    }),
  );
  expect(created.opcode).toBe(Opcode.ACK);
  const claimed = await sendVia(
    net,
    a,
    alice,
    frameOf(alice, Opcode.KP_CLAIM, 0n, 0n, { user_id: `bob@${B}` }),
  );
  expect(claimed.opcode).toBe(Opcode.KP_CLAIMED);
  // Relayed by A: signed by A's key, the only hub key alice's client knows.
  expect(verifyFrame(claimed.frame, a.hubSigner.publicKey)).toBe(true);
  const claims = decodePayload(Opcode.KP_CLAIMED, claimed.frame.payload).claims;
  expect(claims).toEqual([{ sender_id: bob.senderId, key_package: kp }]);
  const c = await commit(a.cs, alice.state, [
    { proposalType: "add", add: { keyPackage: bob.device.publicPackage } },
  ]);
  const added = await sendVia(
    net,
    a,
    alice,
    frameOf(alice, Opcode.COMMIT, ROOM, 0n, {
      commit: c.commit,
      group_info: c.groupInfo,
      welcome: encodeMlsMessage(c.welcome!),
      welcome_recipients: [bob.senderId],
    }),
  );
  expect(added.opcode).toBe(Opcode.ACK);
  alice.state = c.state;
  bob.state = await join(b.cs, bob.device, c.welcome!);
  // B became a voter: A's proposal enlisting it as an external sender is pending at index 2
  // (moderation/enlistHubs.ts); both members hold it, as clients do.
  await net.settleUntil(() => hubProposals(a, alice).length > 0 && hubProposals(b, bob).length > 0);
  expect(await applyHubProposals(a, alice)).toHaveLength(1);
  expect(await applyHubProposals(b, bob)).toHaveLength(1);
  return { net, a, b, alice, bob };
}

function headers(env: Env): string[] {
  return env.storage.readRange(ROOM, 0n, 1000).map((f) => Buffer.from(f.header).toString("hex"));
}

describe("rooms across two hubs", () => {
  it("invites bob@b through his home hub: claim, Welcome routed to his inbox, replica from 0", async () => {
    const { net, a, b, bob } = await crossRoom();
    const welcomes = deliveredTo(b, bob.senderId, Opcode.WELCOME);
    expect(welcomes).toHaveLength(1);
    expect(verifyFrame(welcomes[0]!, b.hubSigner.publicKey)).toBe(true);
    expect(b.storage.welcomesFor(bob.senderId, 0n)).toHaveLength(1);
    // B keeps a replica of the whole log, position for position.
    await net.settle();
    expect(headers(b)).toEqual(headers(a));
    expect(headers(a)).toHaveLength(3);
    expect(b.hub.federation!.book.authorityOf(ROOM)).toEqual({ domain: A, term: 0n });
  });

  it("bob's messages go through B to the authority, alice's reach bob through B", async () => {
    const { net, a, b, alice, bob } = await crossRoom();
    const sent = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "from bob"));
    expect(sent.opcode).toBe(Opcode.ACK);
    expect(sent.frame.header.logIndex).toBe(3n);
    expect(verifyFrame(sent.frame, b.hubSigner.publicKey)).toBe(true);
    expect(deliveredTo(a, alice.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
    const back = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "from alice"));
    expect(back.frame.header.logIndex).toBe(4n);
    const atBob = deliveredTo(b, bob.senderId, Opcode.APP_MESSAGE);
    expect(atBob.map((f) => f.header.logIndex)).toEqual([4n]);
    // Bob's own message is not echoed to him; the replica has both.
    expect(headers(b)).toEqual(headers(a));
    expect(headers(a)).toHaveLength(5);
  });

  it("serves sync and history from the replica; refuses non-members", async () => {
    const { net, a, b, bob } = await crossRoom();
    await sendVia(net, b, bob, appMessage(bob, ROOM, 1n));
    const sentBefore = net.log.length;
    const page = await sendVia(
      net,
      b,
      bob,
      frameOf(bob, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 }),
    );
    expect(page.opcode).toBe(Opcode.SYNC_PAGE);
    expect(net.log.length).toBe(sentBefore); // answered by B, nothing crossed the link
    const p = decodePayload(Opcode.SYNC_PAGE, page.frame.payload);
    // Position for position A's log; the hub's own entry (A's enlisting of B, index 2) is
    // served re-signed by B, the only hub key bob's client knows: compare the signed part.
    const signedPart = (h: string) => h.slice(0, 128);
    expect(p.entries.map((e) => signedPart(Buffer.from(e.header).toString("hex")))).toEqual(
      headers(a).map(signedPart),
    );
    expect(p.head).toBe(4n);
    const mallory = await makeClient(b, `mallory@${B}`);
    const refused = await sendVia(
      net,
      b,
      mallory,
      frameOf(mallory, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 }),
    );
    expect(refused.error?.name).toBe("NOT_MEMBER");
  });

  it("serves sync from the replica after B restarts: its members are kept", async () => {
    const { net, b, bob } = await crossRoom();
    await sendVia(net, b, bob, appMessage(bob, ROOM, 1n));
    await net.crash(B);
    await net.restart(B);
    b.hub.attachSession(bob.sessionId, bob.signer.publicKey, bob.name);
    await net.settle(); // the catch-up B asks for when its link comes back
    const sentBefore = net.log.length;
    const page = await sendVia(
      net,
      b,
      bob,
      frameOf(bob, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 }),
    );
    expect(page.opcode).toBe(Opcode.SYNC_PAGE);
    expect(net.log.length).toBe(sentBefore); // answered by B from its replica
  });

  it("relays the authority's refusals and keeps idempotency: one entry per request", async () => {
    const { net, a, b, bob } = await crossRoom();
    const stale = await sendVia(net, b, bob, appMessage(bob, ROOM, 0n));
    expect(stale.error?.name).toBe("STALE_EPOCH");
    const msg = appMessage(bob, ROOM, 1n, "once", 500);
    const first = await sendVia(net, b, bob, msg);
    const again = await sendVia(net, b, bob, msg);
    expect(again.frame.header.logIndex).toBe(first.frame.header.logIndex);
    expect(a.storage.nextIndex(ROOM)).toBe(4n);
    expect(headers(b)).toEqual(headers(a));
  });

  it("a kick of bob@b at the authority holds bob's writes until the removal is committed", async () => {
    const { net, a, b, bob } = await crossRoom();
    const kicked = await a.hub.kick(ROOM, `bob@${B}`);
    expect(kicked).toMatchObject({ ok: true, kick: { leaves: [1] } });
    await net.settle();
    // The hub's Remove proposal reaches bob through B, re-signed by B; the replica keeps A's.
    // (The first is A's enlisting of B as an external sender.)
    const proposals = deliveredTo(b, bob.senderId, Opcode.PROPOSAL);
    expect(proposals).toHaveLength(2);
    expect(proposals[1]!.header.senderId).toBe(0n);
    expect(verifyFrame(proposals[1]!, b.hubSigner.publicKey)).toBe(true);
    expect(headers(b)).toEqual(headers(a));
    const held = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n));
    expect(held.error?.name).toBe("MUST_INCLUDE_PENDING_REMOVALS");
  });

  it("answers PEER_UNREACHABLE with a retry hint while the authority's link is down", async () => {
    const { net, b, bob } = await crossRoom();
    net.link(A, B, false);
    const r = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n));
    expect(r.error?.name).toBe("PEER_UNREACHABLE");
    const p = decodePayload(Opcode.ERROR, r.frame.payload);
    expect(p.retry_after_ms).toBe(1000n);
    net.link(A, B);
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n))).opcode).toBe(Opcode.ACK);
  });

  it("a replica catches up, once its link is back, what the authority sequenced while it was down", async () => {
    const { net, a, b, alice } = await crossRoom();
    net.link(A, B, false);
    const sent = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "while B is away"));
    expect(sent.opcode).toBe(Opcode.ACK);
    expect(headers(b)).toHaveLength(3); // nothing crossed the dead link
    net.link(A, B);
    await net.settle();
    // No later frame reveals the gap: the link coming up must.
    expect(headers(b)).toEqual(headers(a));
    expect(headers(a)).toHaveLength(4);
  });

  it("B's ban applies to its users: nothing is forwarded", async () => {
    let banned = false;
    const net = await federation([A, B], {
      bans: { [B]: { isBanned: (u) => banned && u === `bob@${B}` } },
    });
    const { b, bob } = await crossRoom(net);
    banned = true;
    const before = net.log.length;
    const r = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n));
    expect(r.error?.name).toBe("BANNED");
    expect(net.log.length).toBe(before);
  });

  it("a replica catches up a frame it missed, and never stores a frame with a bad position", async () => {
    const { net, a, b, alice } = await crossRoom();
    let dropNext = true;
    net.tamper = (m) => {
      if (m.to === B && dropNext) {
        dropNext = false;
        return undefined;
      }
      return m;
    };
    await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "lost on the link"));
    expect(b.storage.nextIndex(ROOM)).toBe(3n);
    await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "after the loss"));
    expect(headers(b)).toEqual(headers(a));
    // A frame whose envelope claims another position signature: refused, not stored.
    net.tamper = (m) => {
      if (m.to !== B) return m;
      const { envelope } = openEnvelope(m.bytes, net.signers.get(A)!.publicKey, { maxHops: 3 });
      if (envelope.position_sig === undefined) return m;
      const forged = sealEnvelope(net.signers.get(A)!, {
        origin: A,
        forwardedAt: 0n,
        hops: 1,
        frame: envelope.frame,
        term: envelope.term ?? 0n,
        positionSig: new Uint8Array(64),
        to: envelope.to ?? [],
      });
      return { ...m, bytes: forged };
    };
    await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "forged"));
    expect(b.storage.nextIndex(ROOM)).toBe(a.storage.nextIndex(ROOM) - 1n);
    expect(b.hub.federation!.refused.get("BAD_HUB_SIGNATURE")).toBe(1);
  });

  it("refuses a peer speaking for another domain's user, and a peer's ROOM_CREATE", async () => {
    const { net, a, b, bob } = await crossRoom();
    const fed = b.hub.federation!;
    // B forwards a request naming a user of c.example: A refuses it and stores nothing.
    const before = a.storage.nextIndex(ROOM);
    fed.forward(
      bob.sessionId,
      Frame.fromWire(appMessage(bob, ROOM, 1n)),
      { senderId: bob.senderId, deviceKey: bob.signer.publicKey, userId: "bob@c.example" },
      A,
    );
    await net.settle();
    expect(a.storage.nextIndex(ROOM)).toBe(before);
    expect(a.hub.federation!.refused.get("FORBIDDEN")).toBe(1);
    const create = frameOf(bob, Opcode.ROOM_CREATE, 77n, 0n, {
      group_info: new Uint8Array(4),
    });
    fed.forward(
      bob.sessionId,
      Frame.fromWire(create),
      { senderId: bob.senderId, deviceKey: bob.signer.publicKey, userId: bob.name },
      A,
    );
    await net.settle();
    expect(a.hub.federation!.refused.get("FORBIDDEN")).toBe(2);
    expect(a.storage.nextIndex(77n)).toBe(0n);
  });

  it("drops envelopes from a peer without a link, with a bad signature or too many hops", async () => {
    const { net, a, b } = await crossRoom();
    const fed = a.hub.federation!;
    fed.linkFrame("c.example", new Uint8Array(200));
    fed.linkFrame(B, new Uint8Array(10));
    const frame = frameOf(await makeClient(b, `x@${B}`), Opcode.APP_MESSAGE, ROOM, 1n, {
      generation: 0,
      ciphertext: new Uint8Array(1),
    });
    const far = sealEnvelope(net.signers.get(B)!, { origin: B, forwardedAt: 0n, hops: 9, frame });
    fed.linkFrame(B, far);
    const wrongKey = sealEnvelope(net.signers.get(A)!, {
      origin: B,
      forwardedAt: 0n,
      hops: 1,
      frame,
    });
    fed.linkFrame(B, wrongKey);
    await net.settle();
    expect(Object.fromEntries(fed.refused)).toMatchObject({
      PEER_NOT_CONFIGURED: 1,
      TRUNCATED: 1,
      TOO_MANY_HOPS: 1,
      BAD_HUB_SIGNATURE: 1,
    });
  });

  it("hands authority frames to the transfer state machine, checked against the peer's key", async () => {
    const got: string[] = [];
    const net = await federation([A, B], {
      authority: {
        [A]: {
          onAuthorityFrame: (from, f) => got.push(`${from} ${f.kind} ${f.frame.header.roomId}`),
        },
      },
    });
    const propose = (signer: DeviceSigner) =>
      hubFrame(signer, Opcode.AUTHORITY_PROPOSE, ROOM, 0n, {
        term: 1n,
        from: A,
        to: B,
        log_index: 3n,
        nonce: new Uint8Array(16),
        reason: "planned",
        proposer: A,
        last_term: 0n,
        voters: [A, B],
      });
    const b = net.hub(B).hub.federation!;
    b.sendHubFrame(A, propose(net.signers.get(B)!));
    b.sendHubFrame(A, propose(net.signers.get(A)!)); // not signed by its sender
    // B runs the built-in part: it knows no such room, so it refuses to vote (NOT_VOTER).
    net.hub(A).hub.federation!.sendHubFrame(B, propose(net.signers.get(A)!));
    await net.settle();
    expect(got).toEqual([`${B} propose ${ROOM}`, `${B} vote ${ROOM}`]);
    expect(net.hub(A).hub.federation!.refused.get("BAD_HUB_SIGNATURE")).toBe(1);
  });

  it("refuses writes TRANSFERRING with the retry hint while the authority hands the room over", async () => {
    let moving: bigint | undefined;
    const net = await federation([A, B], {
      authority: { [A]: { onAuthorityFrame: () => {}, transferring: () => moving } },
    });
    const { a, b, alice, bob } = await crossRoom(net);
    moving = 250n;
    for (const [env, c] of [
      [a, alice],
      [b, bob],
    ] as const) {
      const r = await sendVia(net, env, c, appMessage(c, ROOM, 1n));
      expect(r.error?.name).toBe("TRANSFERRING");
      expect(decodePayload(Opcode.ERROR, r.frame.payload).retry_after_ms).toBe(250n);
    }
    // Reads still work; writes resume once the hand-over is done.
    const sync = frameOf(bob, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 10 });
    expect((await sendVia(net, b, bob, sync)).opcode).toBe(Opcode.SYNC_PAGE);
    moving = undefined;
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n))).opcode).toBe(Opcode.ACK);
  });

  it("asks a remote member to commit a pending removal when no local member is live", async () => {
    const { net, a, b, alice, bob } = await crossRoom();
    // Bob's requests through B make him a live member at A, until B's link goes down.
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 1n))).opcode).toBe(Opcode.ACK);
    a.hub.detachSession(alice.sessionId);
    expect(await a.hub.kick(ROOM, `alice@${A}`)).toMatchObject({ ok: true });
    net.time.advance(1_000);
    await net.settle();
    const asked = deliveredTo(b, bob.senderId, Opcode.COMMIT_REQUEST);
    expect(asked.length).toBeGreaterThan(0);
    expect(verifyFrame(asked[0]!, b.hubSigner.publicKey)).toBe(true);
  });
});

describe("a participating hub's bans over what it relays (relayFilter.ts)", () => {
  it("withholds a banned remote user's messages from its devices, delivers the handshake, keeps the log whole", async () => {
    let banned = false;
    const net = await federation([A, B], {
      bans: { [B]: { isBanned: (u) => banned && u === `alice@${A}` } },
    });
    const { a, b, alice, bob } = await crossRoom(net);
    banned = true;
    const sent = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "withheld at B"));
    expect(sent.opcode).toBe(Opcode.ACK);
    // In B's replica (the room's log is the authority's), delivered to no device of B.
    expect(headers(b)).toEqual(headers(a));
    expect(deliveredTo(b, bob.senderId, Opcode.APP_MESSAGE)).toHaveLength(0);
    expect(b.hub.federation!.relayFilter.withheldCount).toBe(1);
    // Sync from B's replica: the entry is there, its payload is not (an erased entry).
    const page = await sendVia(
      net,
      b,
      bob,
      frameOf(bob, Opcode.SYNC_REQUEST, ROOM, 1n, { from: 0n, limit: 100 }),
    );
    const entries = decodePayload(Opcode.SYNC_PAGE, page.frame.payload).entries;
    expect(entries).toHaveLength(4);
    expect(entries[3]!.payload).toBeNull();
    expect(entries[1]!.payload).not.toBeNull();
    // Alice's commit still reaches bob: his group state must follow the room.
    const c = await commit(a.cs, alice.state!, []);
    const committed = await sendVia(
      net,
      a,
      alice,
      frameOf(alice, Opcode.COMMIT, ROOM, 1n, { commit: c.commit, group_info: c.groupInfo }),
    );
    expect(committed.opcode).toBe(Opcode.ACK);
    expect(deliveredTo(b, bob.senderId, Opcode.COMMIT)).toHaveLength(1);
    // Bob's own messages still go out; lifted, alice's reach bob again.
    expect((await sendVia(net, b, bob, appMessage(bob, ROOM, 2n))).opcode).toBe(Opcode.ACK);
    banned = false;
    await sendVia(net, a, alice, appMessage(alice, ROOM, 2n, "delivered"));
    expect(deliveredTo(b, bob.senderId, Opcode.APP_MESSAGE)).toHaveLength(1);
  });
});

describe("presence and typing across hubs (ephemeralRelay.ts)", () => {
  const presence = (c: Client, status: string) => frameOf(c, Opcode.PRESENCE, ROOM, 1n, { status });

  it("reach the room's members on the other hub both ways, through the authority, never stored", async () => {
    const { net, a, b, alice, bob } = await crossRoom();
    const before = [headers(a).length, headers(b).length];
    await b.hub.handleFrame(bob.sessionId, bob.senderId, presence(bob, "here"));
    await net.settle();
    const atAlice = deliveredTo(a, alice.senderId, Opcode.PRESENCE);
    expect(atAlice.map((f) => decodePayload(Opcode.PRESENCE, f.payload).status)).toEqual(["here"]);
    await a.hub.handleFrame(
      alice.sessionId,
      alice.senderId,
      frameOf(alice, Opcode.TYPING, ROOM, 1n, { typing: true }),
    );
    await net.settle();
    const atBob = deliveredTo(b, bob.senderId, Opcode.TYPING);
    expect(atBob).toHaveLength(1);
    expect(atBob[0]!.header.senderId).toBe(alice.senderId);
    expect([headers(a).length, headers(b).length]).toEqual(before);
    expect(b.hub.federation!.ephemeral.counts.delivered).toBe(1);
  });

  it("are rate limited per device at the home hub and again at the authority", async () => {
    const { net, a, b, alice, bob } = await crossRoom();
    for (let i = 0; i < 40; i++) {
      await b.hub.handleFrame(bob.sessionId, bob.senderId, presence(bob, `s${i}`));
    }
    await net.settle();
    expect(deliveredTo(a, alice.senderId, Opcode.PRESENCE)).toHaveLength(30);
    const limited = b.out.filter(
      (o) => o.target.kind === "session" && o.frame.header.opcode === Opcode.ERROR,
    );
    expect(limited.length).toBe(10);
    // A peer that does not limit its users: the authority spends the same allowance.
    const sealed = (i: number) =>
      sealEnvelope(net.signers.get(B)!, {
        origin: B,
        forwardedAt: 0n,
        hops: 1,
        frame: presence(bob, `flood${i}`),
        userId: `bob@${B}`,
        deviceKey: bob.device.publicPackage.leafNode.signaturePublicKey,
      });
    net.time.advance(60_000);
    for (let i = 0; i < 40; i++) a.hub.federation!.linkFrame(B, sealed(i));
    await net.settle();
    expect(deliveredTo(a, alice.senderId, Opcode.PRESENCE)).toHaveLength(60);
  });

  it("are not delivered from a hub that is not the room's authority, nor to non-members", async () => {
    const { net, a, b, alice, bob } = await crossRoom();
    const mallory = await makeClient(b, `mallory@${B}`);
    // A relays "alice's typing" to bob and to mallory (not a member): only bob gets it.
    const relayed = (origin: string, to: bigint[]) =>
      sealEnvelope(net.signers.get(origin)!, {
        origin,
        forwardedAt: 0n,
        hops: 1,
        frame: frameOf(alice, Opcode.TYPING, ROOM, 1n, { typing: true }),
        to,
        userId: `alice@${A}`,
      });
    b.hub.federation!.linkFrame(A, relayed(A, [bob.senderId, mallory.senderId]));
    await net.settle();
    expect(deliveredTo(b, bob.senderId, Opcode.TYPING)).toHaveLength(1);
    expect(deliveredTo(b, mallory.senderId, Opcode.TYPING)).toHaveLength(0);
    // The same from B to A, where B is not the authority of A's room: refused.
    a.hub.federation!.linkFrame(B, relayed(B, [alice.senderId]));
    await net.settle();
    expect(deliveredTo(a, alice.senderId, Opcode.TYPING)).toHaveLength(0);
    expect(a.hub.federation!.refused.get("NOT_AUTHORITY")).toBe(1);
  });
});
