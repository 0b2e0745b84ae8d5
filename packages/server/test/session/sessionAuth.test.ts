/**
 * The session asks the hub who a device speaks for (identity, issue 12), between the
 * proof of the key (AUTH_RESPONSE) and AUTH_OK: the verdict's user is the session's and
 * AUTH_OK names it; a refusal ends the session; the wait for the authenticator counts
 * against the auth timeout (a verdict arriving after it is dropped).
 */
import { decodeErrorPayload, decodePayload, encodePayload, Frame, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/hub/tokenBucket.js";
import type { AuthRequest, AuthVerdict } from "../../src/identity/authenticator.js";
import { Session, type SessionHub } from "../../src/runtime/node/session.js";
import { ManualTime } from "../hub/harness.js";
import { defaultLimits, device, hello, hubKey, rawFrame } from "../runtime/helpers.js";

function setup() {
  const time = new ManualTime();
  const sent: Frame[] = [];
  const closed: string[] = [];
  const asked: AuthRequest[] = [];
  const attached: string[] = [];
  let answer: (v: AuthVerdict) => void = () => undefined;
  const hub: SessionHub = {
    authenticate: (req) => {
      asked.push(req);
      return new Promise((r) => {
        answer = r;
      });
    },
    attachSession: (_id, _key, userId) => attached.push(userId),
    detachSession: () => undefined,
    handleFrame: () => undefined,
    deviceBucket: () => new TokenBucket(100, 100, time),
  };
  let n = 0;
  const session = new Session({
    id: "s1",
    io: { send: (f) => sent.push(Frame.fromWire(f)), close: (r) => closed.push(r) },
    hubKey: hubKey(),
    hub,
    limits: { ...defaultLimits, authTimeoutMs: 1000 },
    clock: time,
    rng: { bytes: (len) => new Uint8Array(len).fill(++n) },
    timers: time,
  });
  const dev = device();
  const prove = () => {
    session.onMessage(hello(dev, "mod", 1));
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, sent.at(-1)!.payload);
    session.onMessage(
      rawFrame(
        dev,
        { opcode: Opcode.AUTH_RESPONSE, requestId: 2 },
        encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
      ),
    );
  };
  return {
    time,
    sent,
    closed,
    asked,
    attached,
    session,
    prove,
    answer: (v: AuthVerdict) => answer(v),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("Session authentication", () => {
  it("AUTH_OK names the authenticator's user, not HELLO's claim", async () => {
    const s = setup();
    s.prove();
    expect(s.asked).toHaveLength(1);
    expect(s.asked[0]?.claimedUserId).toBe("mod");
    expect(s.session.authenticated).toBe(false);
    s.answer({ ok: true, userId: "eve@hub" });
    await flush();
    const ok = s.sent.at(-1)!;
    expect(ok.header.opcode).toBe(Opcode.AUTH_OK);
    expect(decodePayload(Opcode.AUTH_OK, ok.payload).user_id).toBe("eve@hub");
    expect(s.session.userId).toBe("eve@hub");
    expect(s.attached).toEqual(["eve@hub"]);
  });

  it("a refusal ends the session with the authenticator's code", async () => {
    const s = setup();
    s.prove();
    s.answer({ ok: false, code: "AUTH_FAILED", message: "no code" });
    await flush();
    expect(decodeErrorPayload(s.sent.at(-1)!.payload).name).toBe("AUTH_FAILED");
    expect(s.closed).toHaveLength(1);
    expect(s.attached).toEqual([]);
  });

  it("the authenticator's wait is inside the auth timeout", async () => {
    const s = setup();
    s.prove();
    s.time.advance(1000);
    expect(decodeErrorPayload(s.sent.at(-1)!.payload).name).toBe("UNAUTHENTICATED");
    expect(s.closed).toEqual(["authentication timeout"]);
    const count = s.sent.length;
    s.answer({ ok: true, userId: "late" });
    await flush();
    expect(s.sent).toHaveLength(count);
    expect(s.attached).toEqual([]);
  });
});
