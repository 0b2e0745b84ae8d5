/**
 * Kicks across hubs (DESIGN §6, §11; moderation/enlistHubs.ts, mls/hubSenders.ts): the
 * room's authority enlists every hub with members as an MLS external sender (a
 * GroupContextExtensions proposal a member commits), so after a transfer the new authority
 * kicks exactly as on one hub: its Remove proposal, every remaining member on every hub
 * processes the commit, and the kicked member decrypts nothing after it. Three real hub
 * cores with real ts-mls members (threeHubs.ts).
 */
import { decodePayload, FrameHeader, Opcode } from "@kalandra/proto";
import {
  acceptAll,
  type ClientState,
  createApplicationMessage,
  decodeMlsMessage,
  emptyPskIndex,
  type MLSMessage,
  processMessage,
} from "ts-mls";
import { externalSendersOf } from "ts-mls/externalSender.js";
import { describe, expect, it } from "vitest";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { type Client, deliveredTo, type Env, frameOf } from "../hub/harness.js";
import { commit, process } from "../mls/mlsClients.js";
import { appMessage } from "../sequencer/room.js";
import {
  A,
  applyHubProposals,
  B,
  C,
  FAILOVER_MS,
  failover,
  hubProposals,
  moderationOf,
  ROOM,
  threeHubRoom,
} from "./threeHubs.js";
import { type Net, sendVia } from "./twoHubs.js";

/** `committer` commits what is pending; the others process its commit. */
async function commitPending(net: Net, home: Env, committer: Client, others: [Env, Client][]) {
  const epoch = committer.state!.groupContext.epoch;
  const made = await commit(home.cs, committer.state!);
  const r = await sendVia(
    net,
    home,
    committer,
    frameOf(committer, Opcode.COMMIT, ROOM, epoch, {
      commit: made.commit,
      group_info: made.groupInfo,
    }),
  );
  expect(
    r.error === undefined ? undefined : decodePayload(Opcode.ERROR, r.frame.payload),
  ).toBeUndefined();
  expect(r.opcode).toBe(Opcode.ACK);
  committer.state = made.state;
  for (const [env, c] of others) c.state = await process(env.cs, c.state!, made.commitMessage);
  return r.frame.header.logIndex;
}

function externalSenderKeys(state: ClientState): string[] {
  const list = externalSendersOf(state.groupContext.extensions) ?? [];
  return list.map((s) => Buffer.from(s.signaturePublicKey).toString("hex"));
}

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

describe("kicks across hubs", () => {
  it("after a transfer A → B, B's operator kicks alice@a: members on every hub follow, alice decrypts nothing after", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    const all: [Env, Client][] = [
      [a, alice],
      [b, bob],
      [c, carol],
    ];
    // Adding bob@b and carol@c made B and C voters: A proposed enlisting their hub keys, and
    // each member holds the proposal (threeHubRoom); bob@b commits it.
    const enlisted = await commitPending(net, b, bob, [
      [a, alice],
      [c, carol],
    ]);
    const keys = [A, B, C].map((d) => hex(net.signers.get(d)!.publicKey));
    for (const [, m] of all) expect(externalSenderKeys(m.state!)).toEqual(keys);
    await net.settle();

    // The room moves to B.
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });

    // B's operator kicks alice@a: B signs the Remove as the room's external sender 1.
    const kicked = await moderationOf(net, b).kick(ROOM, `alice@${A}`, "spam", "admin:b");
    expect(kicked).toMatchObject({ ok: true, leaves: [0] });
    await net.settle();
    for (const [env, m] of all) expect(await applyHubProposals(env, m, enlisted)).toHaveLength(1);
    // Nothing else until the removal is committed: as on one hub.
    const epoch = bob.state!.groupContext.epoch;
    const blocked = await sendVia(net, c, carol, appMessage(carol, ROOM, epoch, "too early"));
    expect(blocked.error?.name).toBe("MUST_INCLUDE_PENDING_REMOVALS");
    // carol@c commits it; bob@b and alice@a process the commit.
    await commitPending(net, c, carol, [
      [b, bob],
      [a, alice],
    ]);
    expect(alice.state!.groupActiveState.kind).toBe("removedFromGroup");
    expect(bob.state!.groupContext.epoch).toBe(carol.state!.groupContext.epoch);

    // After it: a message of bob's opens for carol, never for alice; the hub refuses alice.
    const sealed = await createApplicationMessage(
      bob.state!,
      new TextEncoder().encode("after"),
      b.cs,
    );
    const wire: MLSMessage = {
      version: "mls10",
      wireformat: "mls_private_message",
      privateMessage: sealed.privateMessage,
    };
    const opened = await processMessage(wire, carol.state!, emptyPskIndex, acceptAll, c.cs);
    expect(opened.kind).toBe("applicationMessage");
    await expect(
      processMessage(wire, alice.state!, emptyPskIndex, acceptAll, a.cs),
    ).rejects.toThrow();
    const refused = await sendVia(
      net,
      a,
      alice,
      appMessage(alice, ROOM, epoch + 1n, "still here?"),
    );
    expect(refused.error?.name).toBe("NOT_MEMBER");
    const ok = await sendVia(net, c, carol, appMessage(carol, ROOM, epoch + 1n, "after"));
    expect(ok.opcode).toBe(Opcode.ACK);
  });
  it("a hub that took the room over before a commit enlisted it refuses a kick NOT_ENLISTED, and kicks once the next commit enlisted it", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    // A's enlisting of B and C is still pending (no member committed it) when B takes over.
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const early = await moderationOf(net, b).kick(ROOM, `alice@${A}`, "x", "admin:b");
    expect(early).toMatchObject({ ok: false, refusal: { code: "NOT_ENLISTED" } });
    // carol@c commits what is pending (A's enlisting): B is an external sender now.
    const enlisted = await commitPending(net, c, carol, [
      [a, alice],
      [b, bob],
    ]);
    for (const m of [alice, bob, carol]) {
      expect(externalSenderKeys(m.state!)).toContain(hex(net.signers.get(B)!.publicKey));
    }
    await net.settle();
    const kicked = await moderationOf(net, b).kick(ROOM, `alice@${A}`, "x", "admin:b");
    expect(kicked).toMatchObject({ ok: true, leaves: [0] });
    await net.settle();
    expect(await applyHubProposals(c, carol, enlisted)).toHaveLength(1);
  });
  it("after A fails, the voter that took the room over kicks alice@a the same way", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority", failoverAfterMs: FAILOVER_MS },
    });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    const enlisted = await commitPending(net, c, carol, [
      [a, alice],
      [b, bob],
    ]);
    await net.settle();
    // A dies; B and C elect one of them, which sequences the room in term 1.
    await net.crash(A);
    const winner = await failover(net, [B, C]);
    expect(hubs[winner]!.hub.federation!.roomAuthority(ROOM)).toMatchObject({ term: 1n });
    const kicked = await moderationOf(net, hubs[winner]!).kick(ROOM, `alice@${A}`, "x", "admin");
    expect(kicked).toMatchObject({ ok: true, leaves: [0] });
    await net.settle();
    const [removal] = await applyHubProposals(b, bob, enlisted);
    expect(await applyHubProposals(c, carol, enlisted)).toHaveLength(1);
    // bob@b commits the removal, carol@c follows; alice (her hub down) reads them later.
    const removalMessage = decodeMlsMessage(
      decodePayload(Opcode.PROPOSAL, removal!.payload).message,
      0,
    )![0];
    const epoch = bob.state!.groupContext.epoch;
    const commitIndex = await commitPending(net, b, bob, [[c, carol]]);
    expect(commitIndex).toBeGreaterThan(enlisted);
    const committed = hubs[winner]!.storage.readRange(ROOM, commitIndex, 1)[0]!;
    const commitMessage = decodeMlsMessage(
      decodePayload(Opcode.COMMIT, committed.payload!).commit,
      0,
    )![0];
    let aliceState = await process(a.cs, alice.state!, removalMessage);
    aliceState = await process(a.cs, aliceState, commitMessage);
    expect(aliceState.groupActiveState.kind).toBe("removedFromGroup");
    expect(carol.state!.groupContext.epoch).toBe(epoch + 1n);
    const ok = await sendVia(net, c, carol, appMessage(carol, ROOM, epoch + 1n, "after"));
    expect(ok.opcode).toBe(Opcode.ACK);
  });
  it("after a transfer A → B, a moderator homed on C kicks in band: C forwards it to B, whose removal it is", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    await commitPending(net, b, bob, [
      [a, alice],
      [c, carol],
    ]);
    await net.settle();
    for (const env of [b, c]) {
      const moderation = moderationOf(net, env);
      env.hub.setModeration(
        inBandModeration(moderation, { moderators: () => [`carol@${C}`], clock: net.time }),
      );
    }
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const epoch = carol.state!.groupContext.epoch;
    const kick = frameOf(carol, Opcode.KICK, ROOM, epoch, { user_id: `alice@${A}`, reason: "x" });
    const r = await sendVia(net, c, carol, kick);
    expect(r.error).toBeUndefined();
    expect(r.opcode).toBe(Opcode.ACK);
    // B sequenced the Remove proposal at the place its answer names (or the expel after it).
    const at = b.storage.readRange(ROOM, r.frame.header.logIndex, 1)[0]!;
    expect(FrameHeader.view(at.header).senderId).toBe(0n);
    expect(b.storage.readAudit().at(-1)).toMatchObject({ kind: "kick", actor: `user:carol@${C}` });
    expect(c.storage.readAudit().some((x) => x.kind === "kick")).toBe(false);
    await net.settle();
    expect(hubProposals(c, carol).length).toBeGreaterThan(0);
  });

  it("majority: the kicked member's hub, left without members, still delivers the commit removing it", async () => {
    const { net, hubs, alice, bob, carol } = await threeHubRoom({
      setup: { ackQuorum: "majority" },
    });
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    const kicked = await moderationOf(net, a).kick(ROOM, `bob@${B}`, "x", "admin");
    expect(kicked).toMatchObject({ ok: true, leaves: [1] });
    await net.settleUntil(() => hubProposals(b, bob).length === 2);
    for (const [env, m] of [
      [a, alice],
      [b, bob],
      [c, carol],
    ] as const) {
      expect(await applyHubProposals(env, m, 2n)).toHaveLength(1);
    }
    const removal = await commitPending(net, c, carol, [[a, alice]]);
    // B is no voter any more, yet learns that the commit is committed and shows it to bob.
    await net.settleUntil(() =>
      deliveredTo(b, bob.senderId, Opcode.COMMIT).some((f) => f.header.logIndex === removal),
    );
    const [commitFrame] = deliveredTo(b, bob.senderId, Opcode.COMMIT).filter(
      (f) => f.header.logIndex === removal,
    );
    expect(commitFrame).toBeDefined();
    const commitMessage = decodeMlsMessage(
      decodePayload(Opcode.COMMIT, commitFrame!.payload).commit,
      0,
    )![0];
    bob.state = await process(b.cs, bob.state!, commitMessage);
    expect(bob.state.groupActiveState.kind).toBe("removedFromGroup");
    // Nothing after it reaches B's replica fan-out for bob.
    const later = await sendVia(
      net,
      c,
      carol,
      appMessage(carol, ROOM, carol.state!.groupContext.epoch, "x"),
    );
    expect(later.opcode).toBe(Opcode.ACK);
    await net.settle();
    expect(deliveredTo(b, bob.senderId, Opcode.APP_MESSAGE)).toHaveLength(0);
  });
});
