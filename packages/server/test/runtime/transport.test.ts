import { WebTransport } from "@fails-components/webtransport";
import { decodePayload, encodePayload, HEADER_SIZE, MAGIC, Opcode } from "@kalandra/proto";
import { waitUntil } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { WT_FLOW_OPTIONS, WT_PATH } from "../../src/runtime/node/transport.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import {
  app,
  authed,
  authedWs,
  device,
  errorName,
  hello,
  hubPerFile,
  isError,
  isOp,
  RawClient,
  rawFrame,
  startHub,
  WsClient,
} from "./helpers.js";

const hub = hubPerFile({
  maxPayloadBytes: 1 << 20,
  connectionRatePerSec: 200,
  connectionBurst: 200,
  maxConnections: 20,
});

describe("WebTransport listener", () => {
  it("authenticates a device and echoes frames in order", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev, "alice");
    const ok = c.frames.find(isOp(Opcode.AUTH_OK)) as Uint8Array;
    expect(decodePayload(Opcode.AUTH_OK, ok.subarray(HEADER_SIZE)).sender_id).toBe(dev.senderId);
    const ch = c.frames.find(isOp(Opcode.AUTH_CHALLENGE)) as Uint8Array;
    expect(readHeader(ch).requestId).toBe(1); // the challenge answers the HELLO request
    expect(decodePayload(Opcode.AUTH_CHALLENGE, ch.subarray(HEADER_SIZE)).hub_key).toEqual(
      hub.hub.publicKey,
    );
    // Routed through the host: this device has exactly this one session.
    const [session] = hub.host.sessionsOf(dev.senderId);
    expect(hub.core.attached.filter((a) => a.sessionId === session)).toEqual([
      { sessionId: session, userId: "alice" },
    ]);
    for (let i = 1; i <= 50; i++) await c.send(app(dev, 100 + i));
    await c.waitFor((f) => readHeader(f).requestId === 150);
    const ids = c.frames.filter(isOp(Opcode.APP_MESSAGE)).map((f) => readHeader(f).requestId);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
    c.close();
  });

  it("re-runs the handshake for the same device on an authenticated session, refuses another device", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev);
    await c.send(hello(dev, "alice", 7));
    const ch = await c.waitFor(
      (f) => isOp(Opcode.AUTH_CHALLENGE)(f) && readHeader(f).requestId === 7,
    );
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, ch.subarray(HEADER_SIZE));
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.AUTH_RESPONSE, requestId: 8 },
        encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
      ),
    );
    await c.waitFor((f) => isOp(Opcode.AUTH_OK)(f) && readHeader(f).requestId === 8);
    const bob = device();
    await c.send(hello(bob, "bob", 9));
    await c.waitFor(isError("SENDER_MISMATCH"));
    expect(hub.host.sessionsOf(dev.senderId)).toHaveLength(1);
    expect(hub.host.sessionsOf(bob.senderId)).toEqual([]);
    c.close();
  });

  it("answers PING with PONG", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev);
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.PING, requestId: 9 },
        encodePayload(Opcode.PING, { nonce: 5 }),
      ),
    );
    const pong = await c.waitFor(isOp(Opcode.PONG));
    expect(readHeader(pong).requestId).toBe(9);
    expect(pong.subarray(HEADER_SIZE)).toEqual(encodePayload(Opcode.PONG, { nonce: 5 }));
    c.close();
  });

  it("refuses a PING carrying more than its schema {nonce}, unsigned, and echoes nothing of it", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev);
    const valid = encodePayload(Opcode.PING, { nonce: 5 });
    // {nonce: 5, extra: h'00…'}: a schema field plus 1000 bytes the hub must not echo.
    const extra = new Uint8Array([
      0xa2,
      ...[0x65, ...new TextEncoder().encode("nonce"), 0x05],
      ...[0x65, ...new TextEncoder().encode("extra"), 0x59, 0x03, 0xe8],
      ...new Uint8Array(1000),
    ]);
    const trailing = new Uint8Array([...valid, 0xff, 0xff]);
    for (const [requestId, payload] of [
      [21, extra],
      [22, trailing],
    ] as const) {
      await c.send(rawFrame(dev, { opcode: Opcode.PING, requestId }, payload));
      const err = await c.waitFor((f) => readHeader(f).requestId === requestId);
      expect(errorName(err)).toBe("BAD_PAYLOAD");
      expect(err.subarray(64, 128).every((b) => b === 0)).toBe(true); // ERRORs go unsigned
    }
    expect(c.frames.filter(isOp(Opcode.PONG))).toEqual([]);
    c.close();
  });

  it("refuses a HELLO whose signature is forged and closes that session", async () => {
    const dev = device();
    const other = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.send(hello(dev, "mallory", 1, other.privateKey)); // claims dev's key, signed by other
    await c.waitFor(isError("BAD_SIGNATURE"));
    await c.waitClosed();
  });

  it("refuses an AUTH_RESPONSE with the wrong nonce", async () => {
    const dev = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.send(hello(dev));
    await c.waitFor(isOp(Opcode.AUTH_CHALLENGE));
    await c.send(
      rawFrame(
        dev,
        { opcode: Opcode.AUTH_RESPONSE, requestId: 2 },
        encodePayload(Opcode.AUTH_RESPONSE, { nonce: new Uint8Array(32) }),
      ),
    );
    await c.waitFor(isError("UNAUTHENTICATED"));
    await c.waitClosed();
  });

  it("refuses frames before authentication", async () => {
    const own = await startHub();
    const dev = device();
    const c = await RawClient.connect(own.port, own.certHash);
    await c.send(app(dev, 1));
    await c.waitFor(isError("UNAUTHENTICATED"));
    // The frame never reached the core, and the device is not routable.
    expect(own.core.attached).toEqual([]);
    expect(own.host.sessionsOf(dev.senderId)).toEqual([]);
    expect(c.frames.filter(isOp(Opcode.APP_MESSAGE))).toEqual([]);
    c.close();
    await own.listener.close(500);
  });

  it("refuses a large frame header before AUTH_OK; after AUTH_OK a large frame gets through", async () => {
    const bystander = device();
    const good = await authed(hub.port, hub.certHash, bystander);
    // A HELLO declaring 64 KiB (within max_payload_bytes, over the pre-auth cap): refused
    // at its header, before any payload byte is buffered.
    const dev = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.send(hello(dev, "x".repeat(64 * 1024)).subarray(0, HEADER_SIZE));
    await c.waitFor(isError("PAYLOAD_TOO_LARGE"));
    await c.waitClosed();
    expect(c.frames.filter(isOp(Opcode.AUTH_CHALLENGE))).toEqual([]);
    expect(c.frames.filter(isOp(Opcode.ERROR)).map(errorName)).toEqual(["PAYLOAD_TOO_LARGE"]);

    await good.send(app(bystander, 64, 64 * 1024));
    const echoed = await good.waitFor((f) => readHeader(f).requestId === 64);
    expect(echoed.length).toBeGreaterThan(64 * 1024);
    expect(good.frames.filter(isOp(Opcode.ERROR))).toEqual([]);
    good.close();
  });

  it("closes sessions that do not authenticate in time", async () => {
    const quick = await startHub({ authTimeoutMs: 200 });
    const c = await RawClient.connect(quick.port, quick.certHash);
    await c.waitFor(isError("UNAUTHENTICATED"), 3000);
    await c.waitClosed();
    await quick.listener.close(500);
  });

  it("garbage, wrong magic, truncated and oversized frames each get their error; others keep working", async () => {
    const bystander = device();
    const good = await authed(hub.port, hub.certHash, bystander);

    const garbage = await authed(hub.port, hub.certHash, device());
    await garbage.send(new Uint8Array(200).fill(0xab));
    await garbage.waitFor(isError("BAD_MAGIC"));
    await garbage.waitClosed();

    const dev = device();
    const magic = await authed(hub.port, hub.certHash, dev);
    const bad = app(dev, 3);
    new DataView(bad.buffer).setUint32(0, MAGIC ^ 1);
    await magic.send(bad);
    await magic.waitFor(isError("BAD_MAGIC"));
    await magic.waitClosed();

    const dev2 = device();
    const big = await authed(hub.port, hub.certHash, dev2);
    const over = app(dev2, 4);
    new DataView(over.buffer).setUint32(60, (1 << 20) + 1);
    await big.send(over.subarray(0, 128));
    await big.waitFor(isError("PAYLOAD_TOO_LARGE"));
    await big.waitClosed();

    const dev3 = device();
    const trunc = await authed(hub.port, hub.certHash, dev3);
    await trunc.send(app(dev3, 5, 100).subarray(0, 150));
    await trunc.end(); // end our side of the stream inside the frame
    await trunc.waitFor(isError("TRUNCATED"));

    await good.send(app(bystander, 77));
    await good.waitFor((f) => readHeader(f).requestId === 77);
    good.close();
  });

  it("forged signatures and other devices' sender_ids get errors, then a disconnect after repeats", async () => {
    const own = await startHub({ maxStrikes: 3 });
    const dev = device();
    const victim = device();
    const c = await authed(own.port, own.certHash, dev);
    const forged = app(dev, 10);
    forged[100] = (forged[100] ?? 0) ^ 0xff; // break the signature
    await c.send(forged);
    await c.waitFor(isError("BAD_SIGNATURE"));
    await c.send(app(victim, 11)); // a frame signed by and naming another device
    await c.waitFor(isError("SENDER_MISMATCH"));
    await c.send(app(dev, 12)); // still usable after two strikes
    await c.waitFor((f) => readHeader(f).requestId === 12);
    await c.send(app(victim, 13));
    await c.waitClosed();
    const errs = c.frames.filter(isOp(Opcode.ERROR)).map(errorName);
    expect(errs).toEqual(["BAD_SIGNATURE", "SENDER_MISMATCH", "SENDER_MISMATCH"]);
    // The one session was attached, then detached when the hub closed it.
    const ids = own.core.attached.map((a) => a.sessionId);
    expect(ids).toHaveLength(1);
    expect(own.core.detached).toEqual(ids);
    expect(own.host.sessionsOf(dev.senderId)).toEqual([]);
    await own.listener.close(500);
  });

  it("rate-limits a flood and keeps the session and its neighbours alive", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev);
    const other = device();
    const o = await authed(hub.port, hub.certHash, other);
    const burst: Uint8Array[] = [];
    for (let i = 0; i < 600; i++) burst.push(app(dev, 1000 + i));
    await c.send(Buffer.concat(burst));
    await c.waitFor(isError("RATE_LIMITED"));
    const echoed = c.frames.filter(isOp(Opcode.APP_MESSAGE)).length;
    expect(echoed).toBeLessThan(600);
    expect(echoed).toBeGreaterThan(0);
    await o.send(app(other, 5));
    await o.waitFor((f) => readHeader(f).requestId === 5);
    expect(c.closed).toBe(false);
    c.close();
    o.close();
  });

  it("applies a per-device limit across sessions of one device", async () => {
    const small = await startHub({ deviceRatePerSec: 1, deviceBurst: 5 });
    const dev = device();
    const a = await authed(small.port, small.certHash, dev);
    const b = await authed(small.port, small.certHash, dev);
    await a.send(Buffer.concat([app(dev, 1), app(dev, 2), app(dev, 3)]));
    await b.send(Buffer.concat([app(dev, 4), app(dev, 5), app(dev, 6)]));
    // A session answers in order: once each has answered a HELLO (a handshake frame, which
    // spends no token) sent after its three frames, all six were judged.
    await a.send(hello(dev, "alice", 7));
    await b.send(hello(dev, "alice", 8));
    await a.waitFor((f) => isOp(Opcode.AUTH_CHALLENGE)(f) && readHeader(f).requestId === 7);
    await b.waitFor((f) => isOp(Opcode.AUTH_CHALLENGE)(f) && readHeader(f).requestId === 8);
    // Five tokens for the device, whichever session spends them: exactly one of six is refused.
    const answers = [...a.frames, ...b.frames].filter((f) => readHeader(f).requestId <= 6);
    expect(answers.filter(isOp(Opcode.APP_MESSAGE))).toHaveLength(5);
    expect(answers.filter(isError("RATE_LIMITED"))).toHaveLength(1);
    a.close();
    b.close();
    await small.listener.close(500);
  });

  it("a session that never opens a stream counts towards max_connections and is closed after auth_timeout", async () => {
    const small = await startHub({ maxConnections: 1, authTimeoutMs: 400 });
    const silent = new WebTransport(`https://127.0.0.1:${small.port}${WT_PATH}`, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: small.certHash.slice() }],
      forceReliable: true,
      ...WT_FLOW_OPTIONS,
    } as never);
    await silent.ready;
    let closedAt: number | undefined;
    const opened = Date.now();
    silent.closed.then(
      () => {
        closedAt = Date.now();
      },
      () => {
        closedAt = Date.now();
      },
    );
    // Counted from acceptance: the one slot is taken, another client is refused.
    await waitUntil(() => small.host.size === 1, "the streamless session counted");
    const b = await RawClient.connect(small.port, small.certHash);
    await b.waitFor(isError("TOO_MANY_CONNECTIONS"));
    // Timed from acceptance: closed after auth_timeout, and its slot is free again.
    await waitUntil(() => closedAt !== undefined, "the streamless session closed", {
      timeoutMs: 5000,
    });
    expect(closedAt! - opened).toBeGreaterThanOrEqual(300);
    expect(small.host.size).toBe(0);
    const c = await authed(small.port, small.certHash, device());
    c.close();
    await small.listener.close(500);
  });

  it("refuses sessions beyond max_connections with TOO_MANY_CONNECTIONS", async () => {
    const small = await startHub({ maxConnections: 1 });
    const a = await authed(small.port, small.certHash, device());
    const b = await RawClient.connect(small.port, small.certHash);
    await b.waitFor(isError("TOO_MANY_CONNECTIONS"));
    a.close();
    await small.listener.close(500);
  });

  it("counts max_connections_per_ip over both listeners by the client's address", async () => {
    const small = await startHub({ maxConnectionsPerIp: 2 }, { websocket: true });
    const a = await authed(small.port, small.certHash, device());
    const b = await authedWs(small.wsPort, device(), "bob");
    // A third session from 127.0.0.1, on either listener, is refused.
    const c = await RawClient.connect(small.port, small.certHash);
    await c.waitFor(isError("TOO_MANY_CONNECTIONS"));
    const d = await WsClient.connect(small.wsPort);
    await d.waitFor(isError("TOO_MANY_CONNECTIONS"));
    expect(small.host.size).toBe(2);
    // A closed session gives its place back.
    a.close();
    await waitUntil(() => small.host.size === 1, "the closed session gone");
    const e = await authed(small.port, small.certHash, device(), "carol");
    e.close();
    b.close();
    await small.close(500);
  });
});
