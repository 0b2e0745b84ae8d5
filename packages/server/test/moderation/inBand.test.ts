/**
 * In-band moderation (docs/protocol.md KICK/BAN/REDACT "C→H (moderator)"): devices of the
 * configured moderators may kick, ban and redact over the wire; anyone else is refused with
 * FORBIDDEN and the refusal is audited; a hub without moderation refuses them all.
 */
import { decodePayload, Flag, FrameHeader, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { AnswerDisk } from "../hub/answerDisk.js";
import { deliveredTo, errorName, frameOf, makeClient, send } from "../hub/harness.js";
import { roomWith } from "../sequencer/room.js";
import { moderatedEnv } from "./support.js";

describe("in-band moderation", () => {
  it("moderators kick, ban and redact; others are refused and audited", async () => {
    const env = await moderatedEnv({ limits: { commitDelayMs: 100, commitDeadlineMs: 1000 } });
    const { members, roomId } = await roomWith(["alice", "bob", "carol"], { env });
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]];
    const kick = frameOf(alice, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "spam" });
    // Not enabled yet.
    expect(errorName(await send(env, alice, kick))).toBe("FORBIDDEN");

    env.hub.setModeration(
      inBandModeration(env.moderation, { moderators: () => ["alice"], clock: env.time }),
    );
    const byBob = frameOf(bob, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "mine" });
    expect(errorName(await send(env, bob, byBob))).toBe("FORBIDDEN");
    expect(env.storage.readAudit().at(-1)).toMatchObject({
      kind: "moderation_refused",
      actor: "user:bob",
      roomId,
      detail: { reason: "not_moderator", opcode: "KICK" },
    });

    const ok = await send(
      env,
      alice,
      frameOf(alice, Opcode.KICK, roomId, 1n, { user_id: "carol", reason: "spam" }),
    );
    expect(ok.opcode).toBe(Opcode.ACK);
    expect(ok.frame.header.logIndex).toBe(2n); // the Remove proposal's place
    expect(env.storage.readAudit().at(-1)).toMatchObject({ kind: "kick", actor: "user:alice" });

    const msg = await send(
      env,
      alice,
      frameOf(alice, Opcode.KICK, roomId, 1n, { user_id: "nobody", reason: "" }),
    );
    expect(errorName(msg)).toBe("NOT_MEMBER");

    const ban = frameOf(alice, Opcode.BAN, roomId, 1n, {
      user_id: "dave",
      scope: "hub",
      reason: "x",
    });
    expect((await send(env, alice, ban)).opcode).toBe(Opcode.ACK);
    expect(env.bans.isBanned("dave")).toBe(true);
    const roomBan = frameOf(alice, Opcode.BAN, roomId, 1n, {
      user_id: "erin",
      scope: "room",
      reason: "x",
    });
    expect((await send(env, alice, roomBan)).opcode).toBe(Opcode.ACK);
    expect(env.bans.isBanned("erin", roomId)).toBe(true);
    const dave = await makeClient(env, "dave");
    expect(
      errorName(await send(env, dave, frameOf(dave, Opcode.GROUP_INFO_FETCH, roomId, 0n, {}))),
    ).toBe("BANNED");

    // Redaction in band: the log has alice's creation frame at 0; redact refuses it.
    const red = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: 0n, reason: "x" });
    expect(errorName(await send(env, alice, red))).toBe("FORBIDDEN");
  });

  it("a repeated REDACT (same sender and request id, the client's retry) gets the first answer, erased and noticed once", async () => {
    const env = await moderatedEnv();
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]];
    let moderators = ["alice"];
    env.hub.setModeration(
      inBandModeration(env.moderation, { moderators: () => moderators, clock: env.time }),
    );
    const message = (text: string) =>
      frameOf(bob, Opcode.APP_MESSAGE, roomId, 1n, {
        generation: 0,
        ciphertext: new TextEncoder().encode(text),
      });
    const target = (await send(env, bob, message("oops"))).frame.header.logIndex;
    const redact = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: target, reason: "x" });
    const first = await send(env, alice, redact);
    expect(first.opcode).toBe(Opcode.ACK);
    // The answer was slow: the client sends the same frame again.
    const again = await send(env, alice, redact);
    expect(again.opcode).toBe(Opcode.ACK);
    expect(again.bytes).toEqual(first.bytes);

    // Both copies arrive before the first is answered: one erasure, the same answer twice.
    const second = (await send(env, bob, message("oops again"))).frame.header.logIndex;
    const redact2 = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: second, reason: "" });
    const sent = env.out.length;
    await Promise.all([
      env.hub.handleFrame(alice.sessionId, alice.senderId, redact2),
      env.hub.handleFrame(alice.sessionId, alice.senderId, redact2),
    ]);
    await env.hub.shards.drain();
    const answers = env.out
      .slice(sent)
      .filter((s) => s.target.kind === "session" && s.frame.header.has(Flag.RESPONSE));
    expect(answers.map((a) => a.frame.header.opcode)).toEqual([Opcode.ACK, Opcode.ACK]);
    expect(answers[1]!.bytes).toEqual(answers[0]!.bytes);

    const notices = deliveredTo(env, bob.senderId, Opcode.REDACTION).map(
      (f) => decodePayload(Opcode.REDACTION, f.payload).log_index,
    );
    expect(notices).toEqual([target, second]);
    expect(env.storage.readAudit().filter((a) => a.kind === "redact")).toHaveLength(2);

    // A refusal is not kept: a retry of a refused request is carried out anew.
    moderators = [];
    const third = (await send(env, bob, message("third"))).frame.header.logIndex;
    const redact3 = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: third, reason: "" });
    expect(errorName(await send(env, alice, redact3))).toBe("FORBIDDEN");
    moderators = ["alice"];
    expect((await send(env, alice, redact3)).opcode).toBe(Opcode.ACK);
  });

  it("sends no ACK it could not store (INTERNAL); the retry gets it, carried out once", async () => {
    const storage = new AnswerDisk();
    const env = await moderatedEnv({ storage });
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const [alice, bob] = members as [(typeof members)[0], (typeof members)[0]];
    env.hub.setModeration(
      inBandModeration(env.moderation, { moderators: () => ["alice"], clock: env.time }),
    );
    const msg = frameOf(bob, Opcode.APP_MESSAGE, roomId, 1n, {
      generation: 0,
      ciphertext: new TextEncoder().encode("oops"),
    });
    const target = (await send(env, bob, msg)).frame.header.logIndex;
    const redact = frameOf(alice, Opcode.REDACT, roomId, 1n, { log_index: target, reason: "x" });
    storage.full = true;
    expect(errorName(await send(env, alice, redact))).toBe("INTERNAL");
    storage.full = false;
    const again = await send(env, alice, redact);
    expect(again.opcode).toBe(Opcode.ACK);
    expect(again.frame.header.logIndex).toBe(
      deliveredTo(env, bob.senderId, Opcode.REDACTION)[0]?.header.logIndex,
    );
    expect(storage.getModerationAnswer(alice.senderId, FrameHeader.view(redact).requestId)).toEqual(
      again.bytes,
    );
    expect(deliveredTo(env, bob.senderId, Opcode.REDACTION)).toHaveLength(1);
    expect(env.storage.readAudit().filter((a) => a.kind === "redact")).toHaveLength(1);
  });

  it("rate-limits the audit of refusals", async () => {
    const env = await moderatedEnv();
    const { members, roomId } = await roomWith(["alice", "bob"], { env });
    const bob = members[1]!;
    env.hub.setModeration(
      inBandModeration(env.moderation, { moderators: () => [], clock: env.time, refusalBurst: 2 }),
    );
    for (let i = 0; i < 4; i++) {
      const f = frameOf(bob, Opcode.REDACT, roomId, 1n, { log_index: 1n, reason: "" });
      expect(errorName(await send(env, bob, f))).toBe("FORBIDDEN");
    }
    expect(env.storage.readAudit().filter((a) => a.kind === "moderation_refused")).toHaveLength(2);
    env.time.advance(60_000);
    const f = frameOf(bob, Opcode.REDACT, roomId, 1n, { log_index: 1n, reason: "" });
    await send(env, bob, f);
    expect(env.storage.readAudit().at(-1)?.detail.suppressed_before).toBe(2);
  });
});
