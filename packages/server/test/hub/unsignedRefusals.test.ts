/**
 * Issue 12: every refused frame cost the hub an Ed25519 signature, so one replayed bad frame
 * × N cost N signatures. ERROR frames now go unsigned (docs/protocol.md "Signatures"): a
 * counting hub signer shows that N refusals cost none, while accepted frames are still
 * signed (their ACKs).
 */
import type { DeviceSigner } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { appMessage, roomWith } from "../sequencer/room.js";
import { errorName, openHub, send } from "./harness.js";

describe("refusals cost the hub no signature", () => {
  it("one refused frame replayed 200 times: 200 unsigned ERRORs, 0 signatures", async () => {
    const { env, members, roomId } = await roomWith(["alice", "bob"]);
    const alice = members[0]!;
    let signatures = 0;
    const real = env.hubSigner;
    const counting: DeviceSigner = {
      publicKey: real.publicKey,
      sign(data) {
        signatures++;
        return real.sign(data);
      },
    };
    await env.hub.close();
    env.hubSigner = counting;
    await openHub(env);
    env.hub.attachSession(alice.sessionId, alice.signer.publicKey, alice.name);

    // An APP_MESSAGE for an epoch the room is not at, replayed with fresh request ids.
    for (let i = 0; i < 200; i++) {
      const a = await send(env, alice, appMessage(alice, roomId, 7n));
      expect(errorName(a)).toBe("WRONG_EPOCH");
      expect(a.frame.header.signature.every((b) => b === 0)).toBe(true);
    }
    expect(signatures).toBe(0);

    // An accepted frame is still answered with a signed ACK.
    const ok = await send(env, alice, appMessage(alice, roomId, 1n));
    expect(ok.error).toBeUndefined();
    expect(signatures).toBeGreaterThan(0);
  });
});
