/**
 * RequestTracker: session-level refusals (UNAUTHENTICATED, RATE_LIMITED) are not answers
 * to a request. Regression of a simulation find (issue 6, hub_crash seed 1): after a hub
 * restart the client resent its in-flight commit before re-authenticating, took the
 * UNAUTHENTICATED answer as the commit's fate and dropped its pending state, then could
 * not apply its own commit, which the hub had sequenced from the first copy.
 */
import { createDeviceSigner, encodeErrorPayload, encodeFrame, Flag, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { RequestTracker } from "../../src/state/requests.js";
import { buildFrame, parseFrame } from "../../src/state/wire.js";
import { ManualTime } from "../support/env.js";

const hub = createDeviceSigner(new Uint8Array(32).fill(9));
const me = createDeviceSigner(new Uint8Array(32).fill(3));

function request(opcode: number, requestId: number, payload: Record<string, unknown>): Uint8Array {
  return buildFrame({ opcode, requestId, roomId: 1n, senderId: 5n, epoch: 0n, payload }, me);
}

function error(requestId: number, name: "UNAUTHENTICATED" | "STALE_EPOCH"): Uint8Array {
  return encodeFrame(
    {
      flags: Flag.RESPONSE | Flag.ERROR,
      opcode: Opcode.ERROR,
      requestId,
      roomId: 1n,
      senderId: 0n,
      epoch: 0n,
      payload: encodeErrorPayload(name, "refused"),
    },
    hub,
  );
}

describe("RequestTracker", () => {
  it("keeps a request refused by the session and sends it again", async () => {
    const sent: Uint8Array[] = [];
    const timers = new ManualTime();
    const t = new RequestTracker((b) => sent.push(b), timers, { retryMs: 100, maxAttempts: 5 });
    const bytes = request(Opcode.APP_MESSAGE, 7, { generation: 0, ciphertext: new Uint8Array(4) });
    let answer: number | undefined;
    void t.request(7, bytes).then((f) => {
      answer = f.header.opcode;
    });
    expect(t.resolve(parseFrame(error(7, "UNAUTHENTICATED")))).toBe(false);
    timers.advance(100);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(bytes);
    expect(t.resolve(parseFrame(error(7, "STALE_EPOCH")))).toBe(true);
    await Promise.resolve();
    expect(answer).toBe(Opcode.ERROR);
  });

  it("lets a handshake request fail on UNAUTHENTICATED", async () => {
    const t = new RequestTracker(() => {}, new ManualTime(), { retryMs: 100, maxAttempts: 5 });
    const p = t.request(3, request(Opcode.AUTH_RESPONSE, 3, { nonce: new Uint8Array(32) }));
    expect(t.resolve(parseFrame(error(3, "UNAUTHENTICATED")))).toBe(true);
    expect((await p).header.opcode).toBe(Opcode.ERROR);
  });
});

describe("RequestTracker with a request asked twice", () => {
  it("answers both callers once and stops resending", async () => {
    const sent: Uint8Array[] = [];
    const timers = new ManualTime();
    const t = new RequestTracker((b) => sent.push(b), timers, { retryMs: 100, maxAttempts: 5 });
    const bytes = request(Opcode.APP_MESSAGE, 9, { generation: 0, ciphertext: new Uint8Array(4) });
    const first = t.request(9, bytes);
    const again = t.request(9, bytes);
    const ack = encodeFrame(
      {
        flags: Flag.RESPONSE,
        opcode: Opcode.ACK,
        requestId: 9,
        roomId: 1n,
        senderId: 0n,
        epoch: 0n,
        payload: new Uint8Array([0xa0]),
      },
      hub,
    );
    expect(t.resolve(parseFrame(ack))).toBe(true);
    expect((await first).header.opcode).toBe(Opcode.ACK);
    expect((await again).header.opcode).toBe(Opcode.ACK);
    const before = sent.length;
    timers.advance(1000);
    expect(sent.length).toBe(before);
    expect(t.size).toBe(0);
  });
});
