/**
 * In-band moderation (docs/protocol.md KICK/BAN/REDACT "C→H (moderator)"): devices of the
 * configured moderators may kick, ban and redact over the wire; anyone else is refused with
 * FORBIDDEN and the refusal is audited; a hub without moderation refuses them all.
 */
import { Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { inBandModeration } from "../../src/moderation/inBand.js";
import { errorName, frameOf, makeClient, send } from "../hub/harness.js";
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
