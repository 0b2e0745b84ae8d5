/**
 * PRESENCE and TYPING through the hub core (hub/ephemeralGate.ts, shardCore.ts): relayed to
 * the other members only, never stored; an outsider, an oversized or malformed payload and
 * a flood each get a typed refusal, and the room's members are not disturbed by them.
 */
import { encodeFrame, encodePayload, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { EPHEMERAL_LIMITS } from "../../src/hub/ephemeralGate.js";
import { appMessage, roomWith } from "../sequencer/room.js";
import { type Client, deliveredTo, errorName, frameOf, makeClient, send } from "./harness.js";

const presence = (c: Client, roomId: bigint, status: string) =>
  frameOf(c, Opcode.PRESENCE, roomId, 1n, { status });

/** Sends an ephemeral frame; the hub answers only a refusal (undefined when relayed). */
async function sendEphemeral(
  env: Awaited<ReturnType<typeof roomWith>>["env"],
  c: Client,
  bytes: Uint8Array,
): Promise<string | undefined> {
  const r = await env.hub.handleFrame(c.sessionId, c.senderId, bytes);
  await env.hub.shards.drain();
  return r?.ok === false ? r.refusal.code : undefined;
}

describe("ephemeral relay", () => {
  it("relays PRESENCE to the other members as the sender signed it, and stores nothing", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob", "carol"]);
    const [alice, bob, carol] = members as [Client, Client, Client];
    const before = env.storage.nextIndex(roomId);
    const bytes = presence(alice, roomId, "online");
    expect(await sendEphemeral(env, alice, bytes)).toBeUndefined();
    for (const other of [bob, carol]) {
      const got = deliveredTo(env, other.senderId, Opcode.PRESENCE);
      expect(got).toHaveLength(1);
      expect(got[0]!.toWire()).toEqual(bytes);
    }
    expect(deliveredTo(env, alice.senderId, Opcode.PRESENCE)).toHaveLength(0);
    expect(env.storage.nextIndex(roomId)).toBe(before);
  });

  it("refuses an outsider NOT_MEMBER and relays nothing", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const mallory = await makeClient(env, "mallory");
    const a = await send(
      env,
      mallory,
      frameOf(mallory, Opcode.TYPING, roomId, 1n, { typing: true }),
    );
    expect(errorName(a)).toBe("NOT_MEMBER");
    for (const m of members) expect(deliveredTo(env, m.senderId, Opcode.TYPING)).toHaveLength(0);
  });

  it("refuses an oversized payload PAYLOAD_TOO_LARGE and a malformed one BAD_PAYLOAD", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const [alice, bob] = members as [Client, Client];
    const big = "x".repeat(EPHEMERAL_LIMITS.maxPayloadBytes);
    const tooLarge = await send(env, alice, presence(alice, roomId, big));
    expect(errorName(tooLarge)).toBe("PAYLOAD_TOO_LARGE");
    // Within the size limit, but not the TYPING schema {typing: bool}.
    const malformed = encodeFrame(
      {
        opcode: Opcode.TYPING,
        requestId: 900,
        roomId,
        senderId: alice.senderId,
        epoch: 1n,
        payload: encodePayload(Opcode.PRESENCE, { status: "typing" }),
      },
      alice.signer,
    );
    expect(errorName(await send(env, alice, malformed))).toBe("BAD_PAYLOAD");
    expect(deliveredTo(env, bob.senderId, Opcode.PRESENCE)).toHaveLength(0);
    expect(deliveredTo(env, bob.senderId, Opcode.TYPING)).toHaveLength(0);
    // The largest status that fits is relayed.
    const fits = "y".repeat(64);
    expect(await sendEphemeral(env, alice, presence(alice, roomId, fits))).toBeUndefined();
    expect(deliveredTo(env, bob.senderId, Opcode.PRESENCE)).toHaveLength(1);
  });

  it("rate-limits a flood per session: the burst passes, then RATE_LIMITED until time refills it", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const [alice, bob] = members as [Client, Client];
    const typing = () => frameOf(alice, Opcode.TYPING, roomId, 1n, { typing: true });
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < EPHEMERAL_LIMITS.burst + 10; i++) {
      codes.push(await sendEphemeral(env, alice, typing()));
    }
    expect(codes.slice(0, EPHEMERAL_LIMITS.burst)).toEqual(
      Array(EPHEMERAL_LIMITS.burst).fill(undefined),
    );
    expect(codes.slice(EPHEMERAL_LIMITS.burst)).toEqual(Array(10).fill("RATE_LIMITED"));
    expect(deliveredTo(env, bob.senderId, Opcode.TYPING)).toHaveLength(EPHEMERAL_LIMITS.burst);
    // Bob's own allowance is his: Alice's flood does not limit him.
    expect(
      await sendEphemeral(env, bob, frameOf(bob, Opcode.TYPING, roomId, 1n, { typing: false })),
    ).toBeUndefined();
    // Sequenced traffic is not spent by the ephemeral allowance.
    expect(errorName(await send(env, alice, appMessage(alice, roomId, 1n)))).toBeUndefined();
    env.time.advance(1000 / EPHEMERAL_LIMITS.ratePerSec);
    expect(await sendEphemeral(env, alice, typing())).toBeUndefined();
    expect(await sendEphemeral(env, alice, typing())).toBe("RATE_LIMITED");
  });
});
