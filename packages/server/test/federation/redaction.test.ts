/**
 * Redactions across hubs (DESIGN §5, §11; federation/replicaRedaction.ts): a REDACT the
 * room's authority sequences erases the message on every replica, on one that was away and
 * catches up later too, and after a transfer the new authority's redactions work the same.
 * Three real hub cores with real MLS members (threeHubs.ts), each hub with its moderation.
 */
import {
  createDeviceSigner,
  encodeFrame,
  FrameHeader,
  HEADER_SIZE,
  hubFrame,
  Opcode,
  stampSequence,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { redactedIndex } from "../../src/federation/replicaRedaction.js";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { type Env, frameOf } from "../hub/harness.js";
import { appMessage } from "../sequencer/room.js";
import { A, B, C, moderationOf, ROOM, threeHubRoom } from "./threeHubs.js";
import { sendVia } from "./twoHubs.js";

/** The entry's payload on a hub: null once erased (the header stays). */
function payloadAt(env: Env, logIndex: bigint): Uint8Array | null | undefined {
  return env.storage.readRange(ROOM, logIndex, 1)[0]?.payload;
}

/** Log indexes of the room whose payload a hub still holds. */
function live(env: Env): bigint[] {
  return env.storage.livePayloads(ROOM, 0n, 1000);
}

describe("REDACT across hubs", () => {
  it("the authority's redaction erases the message on every replica, a replica away at the time included", async () => {
    const { net, hubs, alice, bob } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    const first = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "to be redacted"));
    const second = await sendVia(net, b, bob, appMessage(bob, ROOM, 1n, "stays"));
    expect(first.opcode).toBe(Opcode.ACK);
    expect(second.opcode).toBe(Opcode.ACK);
    await net.settle();
    const target = first.frame.header.logIndex;
    for (const env of [a, b, c]) expect(payloadAt(env, target)).not.toBeNull();

    // C is away when the redaction is sequenced: it holds the message and misses the notice.
    net.link(A, C, false);
    const r = await moderationOf(net, a).redact(ROOM, target, "spam", "admin:ops");
    expect(r.ok).toBe(true);
    await net.settle();
    expect(payloadAt(a, target)).toBeNull();
    expect(payloadAt(b, target)).toBeNull();
    expect(payloadAt(c, target)).not.toBeNull();
    // C catches up (the page holds the notice, from C's head on): erased there too.
    net.link(A, C);
    await net.settle();
    expect(payloadAt(c, target)).toBeNull();
    // Only that message: the same live entries on every hub, the header kept everywhere.
    expect(live(b)).toEqual(live(a));
    expect(live(c)).toEqual(live(a));
    expect(live(a)).toContain(second.frame.header.logIndex);
    for (const env of [b, c]) {
      expect(env.storage.readRange(ROOM, target, 1)[0]!.header).toEqual(
        a.storage.readRange(ROOM, target, 1)[0]!.header,
      );
    }
  });

  it("a replica that joins the log later never gets the redacted payload back", async () => {
    const { net, hubs, alice } = await threeHubRoom();
    const [a, c] = [hubs[A]!, hubs[C]!];
    net.link(A, C, false);
    const sent = await sendVia(net, a, alice, appMessage(alice, ROOM, 1n, "gone before C saw it"));
    const target = sent.frame.header.logIndex;
    expect((await moderationOf(net, a).redact(ROOM, target, "x", "admin")).ok).toBe(true);
    net.link(A, C);
    await net.settle();
    expect(c.storage.nextIndex(ROOM)).toBe(a.storage.nextIndex(ROOM));
    expect(payloadAt(c, target)).toBeNull();
    expect(live(c)).toEqual(live(a));
  });

  it("after a transfer A → B, B's redaction erases the message on A and C", async () => {
    const { net, hubs, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const sent = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "after the move"));
    expect(sent.opcode).toBe(Opcode.ACK);
    await net.settle();
    const target = sent.frame.header.logIndex;
    for (const env of [a, b, c]) expect(payloadAt(env, target)).not.toBeNull();
    // The old authority cannot redact any more; the new one can.
    const refused = await moderationOf(net, a).redact(ROOM, target, "x", "admin");
    expect(refused.ok).toBe(false);
    expect(payloadAt(a, target)).not.toBeNull();
    const r = await moderationOf(net, b).redact(ROOM, target, "x", "admin");
    expect(r.ok).toBe(true);
    await net.settle();
    for (const env of [a, b, c]) expect(payloadAt(env, target)).toBeNull();
    expect(live(a)).toEqual(live(b));
    expect(live(c)).toEqual(live(b));
  });
});

describe("in-band moderation of a room another hub sequences", () => {
  it("after a transfer A → B, a moderator homed on A redacts in band: A forwards it to B, which erases everywhere", async () => {
    const { net, hubs, alice, carol } = await threeHubRoom();
    const [a, b, c] = [hubs[A]!, hubs[B]!, hubs[C]!];
    // alice@a moderates on both hubs (A's own moderation would refuse: it no longer erases).
    for (const env of [a, b]) {
      env.hub.setModeration(
        inBandModeration(moderationOf(net, env), {
          moderators: () => [`alice@${A}`],
          clock: net.time,
        }),
      );
    }
    const moving = a.hub.federation!.transfer(ROOM, B);
    await net.settle();
    expect(await moving).toEqual({ ok: true, term: 1n });
    const sent = await sendVia(net, c, carol, appMessage(carol, ROOM, 1n, "to go"));
    await net.settle();
    const target = sent.frame.header.logIndex;

    const redact = frameOf(alice, Opcode.REDACT, ROOM, 1n, { log_index: target, reason: "x" });
    const r = await sendVia(net, a, alice, redact);
    expect(r.error).toBeUndefined();
    expect(r.opcode).toBe(Opcode.ACK);
    await net.settle();
    for (const env of [a, b, c]) expect(payloadAt(env, target)).toBeNull();
    // The notice is B's, at the place B's answer names.
    const notice = b.storage.readRange(ROOM, r.frame.header.logIndex, 1)[0]!;
    expect(FrameHeader.view(notice.header).opcode).toBe(Opcode.REDACTION);
    expect(b.storage.readAudit().at(-1)).toMatchObject({
      kind: "redact",
      actor: `user:alice@${A}`,
    });
    // A hub-wide BAN stays the hub's own: A bans, B knows nothing of it.
    const ban = frameOf(alice, Opcode.BAN, ROOM, 1n, {
      user_id: "x@a.example",
      scope: "hub",
      reason: "",
    });
    expect((await sendVia(net, a, alice, ban)).opcode).toBe(Opcode.ACK);
    expect(a.storage.readAudit().at(-1)).toMatchObject({ kind: "ban" });
    expect(b.storage.readAudit().some((x) => x.kind === "ban")).toBe(false);
  });
});

describe("redactedIndex", () => {
  const hub = createDeviceSigner(new Uint8Array(32).fill(9));
  const at = (frame: Uint8Array, logIndex: bigint) => {
    stampSequence(frame, logIndex, 1n);
    return [frame.subarray(0, HEADER_SIZE), frame.subarray(HEADER_SIZE)] as const;
  };

  it("names the earlier entry of the hub's REDACTION, nothing for any other frame", () => {
    const notice = () => hubFrame(hub, Opcode.REDACTION, ROOM, 0n, { log_index: 4n });
    expect(redactedIndex(...at(notice(), 9n))).toBe(4n);
    // Never itself or a later entry; never a frame whose payload is already erased.
    expect(redactedIndex(...at(notice(), 4n))).toBeUndefined();
    expect(redactedIndex(at(notice(), 9n)[0], null)).toBeUndefined();
    // A member cannot make replicas erase: only a hub frame (sender 0) counts.
    const member = encodeFrame(
      {
        flags: 0,
        opcode: Opcode.REDACTION,
        requestId: 1,
        roomId: ROOM,
        senderId: 42n,
        epoch: 0n,
        payload: notice().subarray(HEADER_SIZE),
      },
      hub,
    );
    expect(redactedIndex(...at(member, 9n))).toBeUndefined();
    // Another opcode, and a payload that does not decode: nothing erased, no throw.
    const other = hubFrame(hub, Opcode.ROOM_POLICY, ROOM, 0n, { action: "expel", user_id: "x" });
    expect(redactedIndex(...at(other, 9n))).toBeUndefined();
    const [header] = at(notice(), 9n);
    expect(redactedIndex(header, new Uint8Array([0xff, 0x00]))).toBeUndefined();
  });
});
