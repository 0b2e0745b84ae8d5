/**
 * The session's pure pieces without a socket: the handshake state machine (every step and
 * refusal), admission (rates, sender, signature verdict, strikes) and the ordered verify
 * queue. The transport tests (test/runtime/transport.test.ts) run them behind real sockets.
 */
import { encodePayload, Flag, Frame, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/hub/tokenBucket.js";
import { Admission } from "../../src/session/admission.js";
import { Handshake } from "../../src/session/handshake.js";
import { VerifyQueue } from "../../src/session/verifyQueue.js";
import { ManualTime } from "../hub/harness.js";
import { app, device, hello, rawFrame } from "../runtime/helpers.js";

const counterRng = () => {
  let n = 0;
  return { bytes: (len: number) => new Uint8Array(len).fill(++n) };
};
const frame = (bytes: Uint8Array) => Frame.fromWire(bytes);
const response = (dev: ReturnType<typeof device>, nonce: Uint8Array, requestId = 2) =>
  frame(
    rawFrame(
      dev,
      { opcode: Opcode.AUTH_RESPONSE, requestId },
      encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
    ),
  );

describe("Handshake", () => {
  it("a handshake request the client sent again while pending gets the same challenge, or waits for its AUTH_OK", () => {
    const dev = device();
    const hs = new Handshake(counterRng());
    const first = new Uint8Array(32).fill(1);
    const h1 = hello(dev, "alice", 1);
    expect(hs.step(frame(h1))).toEqual({ kind: "challenge", requestId: 1, nonce: first });
    // The retry timer fired before AUTH_CHALLENGE arrived: the same HELLO, the same nonce
    // (a fresh one made the answer to the first challenge fail).
    expect(hs.step(frame(h1))).toEqual({ kind: "challenge", requestId: 1, nonce: first });
    // Another HELLO (a new request) is a new challenge, and only its nonce is accepted.
    const second = new Uint8Array(32).fill(2);
    expect(hs.step(frame(hello(dev, "alice", 7)))).toEqual({
      kind: "challenge",
      requestId: 7,
      nonce: second,
    });
    expect(hs.step(response(dev, first, 8))).toMatchObject({
      code: "UNAUTHENTICATED",
      message: "nonce does not match the challenge",
    });
    const hs2 = new Handshake(counterRng());
    hs2.step(frame(h1));
    const r = response(dev, first, 2);
    expect(hs2.step(r)).toMatchObject({ kind: "authenticate", requestId: 2 });
    // Sent again while the authenticator decides: no strike, the AUTH_OK answers it.
    expect(hs2.step(r)).toEqual({ kind: "repeated" });
    expect(hs2.settle({ ok: true, userId: "alice@hub" }, 2)).toMatchObject({ first: true });
    // After AUTH_OK a repeat is refused as before (its answer was lost: the client starts over).
    expect(hs2.step(r)).toMatchObject({ code: "UNAUTHENTICATED", fatal: false });
    // An AUTH_RESPONSE of another request id is still refused.
    expect(hs2.step(response(dev, first, 9))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("HELLO → challenge → AUTH_RESPONSE → authenticate → settled; a re-run for the same device", () => {
    const dev = device();
    const hs = new Handshake(counterRng());
    const ch = hs.step(frame(hello(dev, "alice", 1)));
    expect(ch).toEqual({ kind: "challenge", requestId: 1, nonce: new Uint8Array(32).fill(1) });
    expect(hs.identity).toBeUndefined();
    const proven = hs.step(response(dev, new Uint8Array(32).fill(1)));
    // The claim goes to the hub's authenticator; nothing is authenticated before its verdict.
    expect(proven).toMatchObject({
      kind: "authenticate",
      requestId: 2,
      first: true,
      claim: { publicKey: dev.publicKey, senderId: dev.senderId, claimedUserId: "alice" },
    });
    expect(hs.identity).toBeUndefined();
    expect(hs.step(frame(app(dev, 5)))).toMatchObject({
      code: "UNAUTHENTICATED",
      message: "authentication in progress",
      fatal: false,
    });
    // The verdict's user, not the claim, is the session's.
    const ok = hs.settle({ ok: true, userId: "alice@hub" }, 2);
    expect(ok).toMatchObject({ kind: "authenticated", requestId: 2, first: true });
    expect(hs.identity).toEqual({
      publicKey: dev.publicKey,
      senderId: dev.senderId,
      userId: "alice@hub",
    });
    // Re-authentication after a reconnect: a new nonce, the same identity, not `first`.
    expect(hs.step(frame(hello(dev, "alice", 3)))).toMatchObject({ kind: "challenge" });
    expect(hs.step(response(dev, new Uint8Array(32).fill(2), 4))).toMatchObject({
      kind: "authenticate",
      first: false,
    });
    expect(hs.settle({ ok: true, userId: "alice@hub" }, 4)).toMatchObject({
      kind: "authenticated",
      first: false,
    });
    expect(hs.state.kind).toBe("ready");
  });

  it("a verdict refusing the first authentication is fatal; a re-authentication must keep the user", () => {
    const dev = device();
    const hs = new Handshake(counterRng());
    hs.step(frame(hello(dev, "mod", 1)));
    hs.step(response(dev, new Uint8Array(32).fill(1)));
    expect(hs.settle({ ok: false, code: "AUTH_FAILED", message: "no code" }, 2)).toMatchObject({
      kind: "refused",
      code: "AUTH_FAILED",
      fatal: true,
    });
    expect(hs.identity).toBeUndefined();

    const ready = new Handshake(counterRng());
    ready.step(frame(hello(dev, "alice", 1)));
    ready.step(response(dev, new Uint8Array(32).fill(1)));
    ready.settle({ ok: true, userId: "alice" }, 2);
    ready.step(frame(hello(dev, "mod", 3)));
    ready.step(response(dev, new Uint8Array(32).fill(2), 4));
    expect(ready.settle({ ok: true, userId: "mod" }, 4)).toMatchObject({
      kind: "refused",
      code: "FORBIDDEN",
      fatal: false,
    });
    expect(ready.identity?.userId).toBe("alice");
    expect(ready.settle({ ok: true, userId: "alice" }, 5)).toMatchObject({ first: false });
    expect(new Handshake(counterRng()).settle({ ok: true, userId: "x" }, 1)).toMatchObject({
      code: "UNAUTHENTICATED",
      fatal: true,
    });
  });

  it("refuses: frames before HELLO (strike), a forged HELLO (fatal), a wrong nonce (fatal)", () => {
    const dev = device();
    const other = device();
    const hs = new Handshake(counterRng());
    expect(hs.step(frame(app(dev, 5)))).toMatchObject({
      kind: "refused",
      code: "UNAUTHENTICATED",
      message: "expected HELLO",
      roomId: 7n,
      fatal: false,
    });
    expect(hs.step(frame(hello(dev, "mallory", 1, other.privateKey)))).toMatchObject({
      kind: "refused",
      code: "BAD_SIGNATURE",
      fatal: true,
    });
    expect(hs.step(frame(hello(dev, "alice", 2)))).toMatchObject({ kind: "challenge" });
    expect(hs.step(response(dev, new Uint8Array(32)))).toMatchObject({
      kind: "refused",
      code: "UNAUTHENTICATED",
      fatal: true,
    });
    expect(hs.step(response(other, new Uint8Array(32).fill(1)))).toMatchObject({
      code: "SENDER_MISMATCH",
      fatal: true,
    });
  });

  it("on an authenticated session, another device's HELLO and bad responses are strikes", () => {
    const dev = device();
    const hs = new Handshake(counterRng());
    hs.step(frame(hello(dev)));
    hs.step(response(dev, new Uint8Array(32).fill(1)));
    hs.settle({ ok: true, userId: "alice" }, 2);
    expect(hs.step(frame(hello(device(), "bob", 9)))).toMatchObject({
      code: "SENDER_MISMATCH",
      message: "this session belongs to another device",
      fatal: false,
    });
    expect(hs.step(frame(hello(dev, "alice", 10)))).toMatchObject({ kind: "challenge" });
    expect(hs.step(response(dev, new Uint8Array(32), 11))).toMatchObject({
      code: "UNAUTHENTICATED",
      fatal: false,
    });
    expect(hs.identity?.senderId).toBe(dev.senderId);
  });
});

describe("Admission", () => {
  it("checks the session rate, sender_id, the verdict and the device rate, and counts strikes", () => {
    const time = new ManualTime();
    const a = new Admission({ connectionRatePerSec: 1, connectionBurst: 2, maxStrikes: 2 }, time);
    expect(a.beforeVerify(1n, 1n, 0)).toBeUndefined();
    expect(a.beforeVerify(2n, 1n, 0)).toMatchObject({ code: "SENDER_MISMATCH", strike: true });
    expect(a.beforeVerify(1n, 1n, 0)).toMatchObject({ code: "RATE_LIMITED", strike: false });
    const device = new TokenBucket(1, 1, time);
    expect(a.afterVerify(false, device)).toMatchObject({ code: "BAD_SIGNATURE", strike: true });
    expect(a.afterVerify(true, device)).toBeUndefined();
    expect(a.afterVerify(true, device)).toMatchObject({ code: "RATE_LIMITED", strike: false });
    expect(a.strike()).toBe(false);
    expect(a.strike()).toBe(true);
    time.advance(1000);
    expect(a.beforeVerify(1n, 1n, 0)).toBeUndefined();
  });

  it("refuses every flag only hubs set (a strike), plain requests pass", () => {
    const a = new Admission(
      { connectionRatePerSec: 100, connectionBurst: 100, maxStrikes: 9 },
      new ManualTime(),
    );
    for (const flag of [Flag.RESPONSE, Flag.ERROR, Flag.EXTERNAL, Flag.FEDERATED]) {
      expect(a.beforeVerify(1n, 1n, flag)).toMatchObject({ code: "FORBIDDEN", strike: true });
    }
    expect(a.beforeVerify(1n, 1n, 0)).toBeUndefined();
  });
});

describe("VerifyQueue", () => {
  it("releases in arrival order whatever order the verdicts come in, and stops when told", () => {
    const dev = device();
    const f = frame(app(dev, 1));
    const done: ((ok: boolean) => void)[] = [];
    const released: string[] = [];
    let open = true;
    const q = new VerifyQueue<string>(
      (_frame, _key, cb) => done.push(cb),
      (item, ok) => {
        if (!open) return false;
        released.push(`${item}:${ok}`);
        return true;
      },
    );
    for (const x of ["a", "b", "c", "d"]) q.push(x, f, dev.publicKey);
    done[2]?.(true);
    done[1]?.(false);
    expect(released).toEqual([]);
    done[0]?.(true);
    expect(released).toEqual(["a:true", "b:false", "c:true"]);
    open = false;
    done[3]?.(true);
    expect(released).toEqual(["a:true", "b:false", "c:true"]);
    expect(q.size).toBe(0);
  });

  it("runs an action at once when nothing waits, else after the frames queued before it", () => {
    const dev = device();
    const f = frame(app(dev, 1));
    const done: ((ok: boolean) => void)[] = [];
    const log: string[] = [];
    const q = new VerifyQueue<string>(
      (_frame, _key, cb) => done.push(cb),
      (item, ok) => {
        log.push(`${item}:${ok}`);
        return true;
      },
    );
    q.inOrder(() => log.push("refusal-0"));
    expect(log).toEqual(["refusal-0"]);
    q.push("a", f, dev.publicKey);
    q.inOrder(() => log.push("refusal-1"));
    q.push("b", f, dev.publicKey);
    q.inOrder(() => log.push("hello-2"));
    done[1]?.(true);
    expect(log).toEqual(["refusal-0"]);
    done[0]?.(false);
    expect(log).toEqual(["refusal-0", "a:false", "refusal-1", "b:true", "hello-2"]);
    expect(q.size).toBe(0);
  });
});
