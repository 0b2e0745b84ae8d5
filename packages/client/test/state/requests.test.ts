/**
 * RequestTracker: session-level refusals (UNAUTHENTICATED, RATE_LIMITED) are not answers
 * to a request. Regression of a simulation find (issue 6, hub_crash seed 1): after a hub
 * restart the client resent its in-flight commit before re-authenticating, took the
 * UNAUTHENTICATED answer as the commit's fate and dropped its pending state, then could
 * not apply its own commit, which the hub had sequenced from the first copy.
 */
import {
  createDeviceSigner,
  encodeErrorPayload,
  encodeFrame,
  Flag,
  Opcode,
  type ProtocolErrorCode,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { hubError } from "../../src/state/errors.js";
import { RequestTracker } from "../../src/state/requests.js";
import { buildFrame, parseFrame } from "../../src/state/wire.js";
import { ManualTime } from "../support/env.js";

const hub = createDeviceSigner(new Uint8Array(32).fill(9));
const me = createDeviceSigner(new Uint8Array(32).fill(3));

function request(opcode: number, requestId: number, payload: Record<string, unknown>): Uint8Array {
  return buildFrame({ opcode, requestId, roomId: 1n, senderId: 5n, epoch: 0n, payload }, me);
}

function error(requestId: number, name: ProtocolErrorCode, retryAfterMs?: bigint): Uint8Array {
  const extra = retryAfterMs === undefined ? undefined : { retry_after_ms: retryAfterMs };
  return encodeFrame(
    {
      flags: Flag.RESPONSE | Flag.ERROR,
      opcode: Opcode.ERROR,
      requestId,
      roomId: 1n,
      senderId: 0n,
      epoch: 0n,
      payload: encodeErrorPayload(name, "refused", extra),
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

/** An ERROR answer with an optional retry hint (federation routing refusals). */
const refusal = error;

function ackOf(requestId: number): Uint8Array {
  return encodeFrame(
    {
      flags: Flag.RESPONSE,
      opcode: Opcode.ACK,
      requestId,
      roomId: 1n,
      senderId: 0n,
      epoch: 0n,
      payload: new Uint8Array([0xa0]),
    },
    hub,
  );
}

describe("RequestTracker during an authority transfer (federation)", () => {
  const app = (id: number) =>
    request(Opcode.APP_MESSAGE, id, { generation: 0, ciphertext: new Uint8Array(4) });
  /** A tracker on a manual clock recording what it sends. */
  const tracker = (retryMs: number, routingRetries: number, jitter?: () => number) => {
    const sent: Uint8Array[] = [];
    const timers = new ManualTime();
    const policy = { retryMs, maxAttempts: 30, routingRetries };
    const t = new RequestTracker((b) => sent.push(b), timers, policy, jitter);
    return { sent, timers, t };
  };

  it("resends the same bytes after TRANSFERRING's hint, not before, and takes the later ACK", async () => {
    const { sent, timers, t } = tracker(1000, 5);
    const bytes = app(11);
    let answer: number | undefined;
    void t.request(11, bytes).then((f) => {
      answer = f.header.opcode;
    });
    expect(t.resolve(parseFrame(refusal(11, "TRANSFERRING", 250n)))).toBe(true);
    timers.advance(249);
    expect(sent).toHaveLength(1);
    timers.advance(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(bytes); // same request_id: idempotent at the hub
    expect(t.resolve(parseFrame(ackOf(11)))).toBe(true);
    await Promise.resolve();
    expect(answer).toBe(Opcode.ACK);
    timers.advance(5000);
    expect(sent).toHaveLength(2);
  });

  it("retries NOT_AUTHORITY and PEER_UNREACHABLE without a hint after the retry delay", async () => {
    const { sent, timers, t } = tracker(400, 5);
    const p = t.request(12, app(12));
    t.resolve(parseFrame(refusal(12, "NOT_AUTHORITY")));
    timers.advance(400);
    expect(sent).toHaveLength(2);
    t.resolve(parseFrame(refusal(12, "PEER_UNREACHABLE")));
    timers.advance(399);
    expect(sent).toHaveLength(2);
    timers.advance(1);
    expect(sent).toHaveLength(3);
    t.resolve(parseFrame(ackOf(12)));
    expect((await p).header.opcode).toBe(Opcode.ACK);
  });

  it("gives the refusal to the caller once the bounded retries are spent", async () => {
    const { sent, timers, t } = tracker(1000, 2);
    const p = t.request(13, app(13));
    for (let i = 0; i < 2; i++) {
      t.resolve(parseFrame(refusal(13, "TRANSFERRING", 100n)));
      timers.advance(100);
    }
    expect(sent).toHaveLength(3);
    t.resolve(parseFrame(refusal(13, "TRANSFERRING", 100n)));
    const f = await p;
    expect(f.header.opcode).toBe(Opcode.ERROR);
    expect(hubError(f).hubName).toBe("TRANSFERRING");
    expect(hubError(f).retryAfterMs).toBe(100n);
    expect(t.size).toBe(0);
  });

  it("spreads retries over hint × [1, 1.5) with the jitter and caps a huge hint", () => {
    const { sent, timers, t } = tracker(1000, 5, () => 0.999);
    void t.request(14, app(14));
    t.resolve(parseFrame(refusal(14, "TRANSFERRING", 200n)));
    timers.advance(299);
    expect(sent).toHaveLength(1);
    timers.advance(1);
    expect(sent).toHaveLength(2);
    t.resolve(parseFrame(refusal(14, "TRANSFERRING", 10n ** 12n)));
    timers.advance(44_984); // 30 s cap × (1 + 0.5 × 0.999) = 44,985 ms
    expect(sent).toHaveLength(2);
    timers.advance(1);
    expect(sent).toHaveLength(3);
  });

  it("does not retry other refusals, nor routing refusals with routingRetries 0", async () => {
    const timers = new ManualTime();
    const none = new RequestTracker(() => {}, timers, { retryMs: 100, maxAttempts: 5 });
    const p = none.request(15, app(15));
    none.resolve(parseFrame(refusal(15, "TRANSFERRING", 10n)));
    expect(hubError(await p).hubName).toBe("TRANSFERRING");
    const t = new RequestTracker(() => {}, timers, {
      retryMs: 100,
      maxAttempts: 5,
      routingRetries: 5,
    });
    const q = t.request(16, app(16));
    t.resolve(parseFrame(refusal(16, "STALE_EPOCH")));
    expect(hubError(await q).hubName).toBe("STALE_EPOCH");
  });
});
