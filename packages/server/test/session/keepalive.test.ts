/**
 * The hub's side of keep-alive (issue 15; runtime/node/session.ts over proto keepalive.ts):
 * an authenticated client silent for `keepaliveIntervalMs` gets a PING signed by the hub;
 * silent for `idleTimeoutMs`, its session is closed; anything it sends (its own PING, a PONG,
 * any frame) counts as life. And the per-user session cap (`max_sessions_per_user`),
 * checked right before AUTH_OK.
 */
import {
  decodeErrorPayload,
  decodePayload,
  encodePayload,
  Flag,
  Frame,
  Opcode,
  verifyFrame,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { HubHost } from "../../src/hub/hubHost.js";
import { Session } from "../../src/runtime/node/session.js";
import { ManualTime } from "../hub/harness.js";
import {
  type Device,
  defaultLimits,
  device,
  EchoRecorder,
  hello,
  hubKey,
  rawFrame,
} from "../runtime/helpers.js";

const flush = () => new Promise((r) => setImmediate(r));

async function setup(limits: { maxSessionsPerUser?: number; clientPingIntervalMs?: number } = {}) {
  const time = new ManualTime();
  const key = hubKey();
  const host = await HubHost.open(
    { clock: time, limits: { ...defaultLimits, ...limits } },
    (sink) => new EchoRecorder(sink),
  );
  let n = 0;
  const open = async (dev: Device, user = "alice", keepsAlive = false) => {
    const sent: Frame[] = [];
    const closed: string[] = [];
    const id = `s${++n}`;
    const session = new Session({
      id,
      io: {
        send: (f) => sent.push(Frame.fromWire(f)),
        close: (r) => closed.push(r),
        ...(keepsAlive ? { keepsAlive } : {}),
      },
      hubKey: key,
      hub: host,
      limits: { ...defaultLimits, keepaliveIntervalMs: 1000, idleTimeoutMs: 3500, ...limits },
      clock: time,
      rng: { bytes: (len) => new Uint8Array(len).fill(n) },
      timers: time,
    });
    host.connect(id, session);
    session.onMessage(hello(dev, user, 1));
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, sent.at(-1)!.payload);
    session.onMessage(
      rawFrame(
        dev,
        { opcode: Opcode.AUTH_RESPONSE, requestId: 2 },
        encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
      ),
    );
    await flush();
    return { id, session, sent, closed };
  };
  return { time, key, host, open };
}

const pings = (sent: Frame[]) => sent.filter((f) => f.header.opcode === Opcode.PING);

describe("hub keep-alive", () => {
  it("leaves it to a transport that keeps alive (a WebSocket front): no timer, no PING; closed as idle when told silent", async () => {
    const t = await setup();
    const dev = device();
    const s = await t.open(dev, "alice", true);
    t.time.advance(10_000); // far past interval and timeout: nothing of the session's own
    expect(pings(s.sent)).toEqual([]);
    expect(s.closed).toEqual([]);
    expect(t.time.pendingTimers).toBe(0); // no keep-alive timer per session
    s.session.silent(3600);
    expect(s.closed).toEqual(["idle timeout"]);
    expect(t.host.sessionsOf(dev.senderId)).toEqual([]);
    s.session.silent(3600); // once
    expect(s.closed).toEqual(["idle timeout"]);
  });

  it("asks for client PINGs every client_ping_interval_ms in AUTH_OK only where the transport keeps alive", async () => {
    const t = await setup({ clientPingIntervalMs: 120_000 });
    const authOk = (sent: Frame[]) =>
      decodePayload(Opcode.AUTH_OK, sent.find((f) => f.header.opcode === Opcode.AUTH_OK)!.payload);
    const front = await t.open(device(), "alice", true);
    expect(authOk(front.sent).ping_ms).toBe(120_000);
    // The session's own keep-alive would PING it after 1 s: a longer client interval is no saving there.
    const own = await t.open(device(), "bob");
    expect(authOk(own.sent)).not.toHaveProperty("ping_ms");
    const unset = await setup();
    expect(authOk((await unset.open(device(), "carol", true)).sent)).not.toHaveProperty("ping_ms");
  });

  it("PINGs a silent client (signed by the hub) and closes its session at the idle timeout", async () => {
    const t = await setup();
    const dev = device();
    const s = await t.open(dev);
    expect(s.session.authenticated).toBe(true);
    t.time.advance(999);
    expect(pings(s.sent)).toEqual([]);
    t.time.advance(1);
    const [ping] = pings(s.sent);
    expect(ping?.header.senderId).toBe(0n);
    expect(ping!.header.flags).toBe(Flag.EXTERNAL);
    expect(verifyFrame(ping!, t.key.publicKey)).toBe(true);
    expect(decodePayload(Opcode.PING, ping!.payload).nonce).toBe(ping!.header.requestId);
    t.time.advance(2400);
    expect(pings(s.sent)).toHaveLength(3);
    expect(s.closed).toEqual([]);
    t.time.advance(100);
    expect(s.closed).toEqual(["idle timeout"]);
    expect(s.session.closed).toBe(true);
    expect(t.host.sessionsOf(dev.senderId)).toEqual([]);
  });

  it("keeps a client that answers with PONG or pings on its own, and does not pass PONGs to the core", async () => {
    const t = await setup();
    const dev = device();
    const s = await t.open(dev);
    let seen = 0;
    t.host.core.onFrame = () => seen++;
    for (let i = 0; i < 20; i++) {
      t.time.advance(1200); // each silence passes the interval: the hub pings
      const ping = pings(s.sent).at(-1)!;
      s.session.onMessage(
        rawFrame(
          dev,
          { opcode: Opcode.PONG, requestId: ping.header.requestId },
          encodePayload(Opcode.PONG, { nonce: decodePayload(Opcode.PING, ping.payload).nonce }),
        ),
      );
    }
    expect(pings(s.sent)).toHaveLength(20);
    expect(seen).toBe(0);
    // A client pinging every 900 ms (under the hub's interval) is never pinged by the hub.
    const before = pings(s.sent).length;
    for (let i = 0; i < 20; i++) {
      t.time.advance(900);
      s.session.onMessage(
        rawFrame(
          dev,
          { opcode: Opcode.PING, requestId: 100 + i },
          encodePayload(Opcode.PING, { nonce: i }),
        ),
      );
    }
    expect(pings(s.sent)).toHaveLength(before);
    expect(s.sent.filter((f) => f.header.opcode === Opcode.PONG)).toHaveLength(20);
    expect(s.closed).toEqual([]);
  });

  it("does not watch a session before AUTH_OK (the auth timeout does) and stops when it closes", async () => {
    const t = await setup();
    const s = await t.open(device());
    s.session.close("test");
    const sent = s.sent.length;
    t.time.advance(100_000);
    expect(s.sent).toHaveLength(sent);
    expect(s.closed).toEqual(["test"]);
  });
});

describe("per-user session cap", () => {
  it("refuses the user's session beyond max_sessions_per_user with TOO_MANY_CONNECTIONS, counts over devices, frees on close", async () => {
    const t = await setup({ maxSessionsPerUser: 2 });
    const a = await t.open(device(), "carol");
    const b = await t.open(device(), "carol");
    const c = await t.open(device(), "carol");
    for (const ok of [a, b]) expect(ok.session.authenticated).toBe(true);
    expect(c.session.closed).toBe(true);
    expect(c.closed).toEqual(["too many sessions for the user"]);
    const refusal = c.sent.at(-1)!;
    expect(decodeErrorPayload(refusal.payload).name).toBe("TOO_MANY_CONNECTIONS");
    expect(refusal.header.requestId).toBe(2);
    expect(c.sent.some((f) => f.header.opcode === Opcode.AUTH_OK)).toBe(false);
    expect(t.host.core.attached.map((x) => x.sessionId)).toEqual([a.id, b.id]);
    // Another user is not affected; a closed session frees its place.
    expect((await t.open(device(), "dave")).session.authenticated).toBe(true);
    a.session.close("gone");
    t.host.disconnect(a.id);
    expect((await t.open(device(), "carol")).session.authenticated).toBe(true);
  });

  it("a repeated handshake of an authenticated session is not counted twice", async () => {
    const t = await setup({ maxSessionsPerUser: 1 });
    const dev = device();
    const s = await t.open(dev, "erin");
    s.session.onMessage(hello(dev, "erin", 7));
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, s.sent.at(-1)!.payload);
    s.session.onMessage(
      rawFrame(
        dev,
        { opcode: Opcode.AUTH_RESPONSE, requestId: 8 },
        encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
      ),
    );
    await flush();
    expect(s.sent.at(-1)?.header.opcode).toBe(Opcode.AUTH_OK);
    expect(s.session.authenticated).toBe(true);
  });
});
