import { decodePayload, HEADER_SIZE, Opcode } from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { readHeader } from "../../src/runtime/node/wire.js";
import {
  app,
  authed,
  authedWs,
  BAD_WS_MESSAGES,
  device,
  errorName,
  hello,
  hubPerFile,
  isError,
  isOp,
  RawClient,
  startHub,
  WsClient,
} from "./helpers.js";

const hub = hubPerFile(
  { maxPayloadBytes: 1 << 20, maxConnections: 50, maxStrikes: 3 },
  { websocket: true },
  500,
);

describe("WebSocket listener", () => {
  it("authenticates a device through the same handshake and echoes frames in order", async () => {
    const dev = device();
    const c = await authedWs(hub.wsPort, dev, "alice");
    const ok = c.frames.find(isOp(Opcode.AUTH_OK)) as Uint8Array;
    expect(decodePayload(Opcode.AUTH_OK, ok.subarray(HEADER_SIZE)).sender_id).toBe(dev.senderId);
    const [session] = hub.host.sessionsOf(dev.senderId);
    expect(session).toMatch(/^w/); // a WebSocket session in the one host
    for (let i = 1; i <= 50; i++) await c.send(app(dev, 100 + i));
    await c.waitFor((f) => readHeader(f).requestId === 150);
    const ids = c.frames.filter(isOp(Opcode.APP_MESSAGE)).map((f) => readHeader(f).requestId);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
    c.close();
  });

  it("routes between a WebSocket and a WebTransport session of the same host", async () => {
    const a = device();
    const b = device();
    const overWs = await authedWs(hub.wsPort, a, "alice");
    const overWt = await authed(hub.port, hub.certHash, b, "bob");
    const [wsId] = hub.host.sessionsOf(a.senderId);
    const [wtId] = hub.host.sessionsOf(b.senderId);
    // The core answers a frame of each to the other session.
    hub.core.onFrame = (from, f) =>
      hub.core.reply(from === wsId ? String(wtId) : String(wsId), f.toWire());
    await overWs.send(app(a, 41));
    await overWt.send(app(b, 42));
    await overWt.waitFor((f) => readHeader(f).requestId === 41);
    await overWs.waitFor((f) => readHeader(f).requestId === 42);
    hub.core.onFrame = undefined;
    overWs.close();
    overWt.close();
  });

  it("each kind of bad message gets its typed error and ends only that session", async () => {
    const bystander = device();
    const good = await authedWs(hub.wsPort, bystander);
    for (const [code, message] of BAD_WS_MESSAGES) {
      const dev = device();
      const c = await authedWs(hub.wsPort, dev);
      await c.send(message(dev));
      await c.waitFor(isError(code));
      await c.waitClosed();
      expect(c.frames.filter(isOp(Opcode.ERROR)).map(errorName)).toEqual([code]);
      expect(hub.host.sessionsOf(dev.senderId)).toEqual([]);
    }
    await good.send(app(bystander, 77));
    await good.waitFor((f) => readHeader(f).requestId === 77);
    good.close();
  });

  it("refuses a large frame before AUTH_OK; after AUTH_OK a large frame gets through", async () => {
    const bystander = device();
    const good = await authedWs(hub.wsPort, bystander);
    // A HELLO with a 64 KiB payload (within max_payload_bytes, over the pre-auth cap).
    const dev = device();
    const c = await WsClient.connect(hub.wsPort);
    await c.send(hello(dev, "x".repeat(64 * 1024)));
    await c.waitFor(isError("PAYLOAD_TOO_LARGE"));
    await c.waitClosed();
    expect(c.frames.filter(isOp(Opcode.AUTH_CHALLENGE))).toEqual([]);
    expect(c.frames.filter(isOp(Opcode.ERROR)).map(errorName)).toEqual(["PAYLOAD_TOO_LARGE"]);
    expect(hub.host.sessionsOf(dev.senderId)).toEqual([]);

    await good.send(app(bystander, 64, 64 * 1024));
    const echoed = await good.waitFor((f) => readHeader(f).requestId === 64);
    expect(echoed.length).toBeGreaterThan(64 * 1024);
    expect(good.frames.filter(isOp(Opcode.ERROR))).toEqual([]);
    good.close();
  });

  it("before AUTH_OK ws buffers no more than a handshake-sized message; after it the full limit", async () => {
    // 512 KiB: within max_payload_bytes (1 MiB), far beyond pre-auth frame + margin.
    const dev = device();
    const c = await WsClient.connect(hub.wsPort);
    await c.send(hello(dev, "x".repeat(512 * 1024))).catch(() => undefined);
    await c.waitClosed();
    expect((c.ws as unknown as { _closeCode?: number })._closeCode).toBe(1009);
    expect(c.frames).toEqual([]);
    expect(hub.host.sessionsOf(dev.senderId)).toEqual([]);

    const ok = await authedWs(hub.wsPort, device());
    const big = device();
    await ok.send(app(big, 65, 512 * 1024)); // another device's frame: refused, not cut off
    expect(errorName(await ok.waitFor((f) => readHeader(f).requestId === 65))).toBe(
      "SENDER_MISMATCH",
    );
    expect(ok.ws.readyState).toBe(1); // still open
    ok.close();
  });

  it("a message far beyond the frame limit is cut off by ws itself", async () => {
    const c = await authedWs(hub.wsPort, device());
    await c.send(new Uint8Array((1 << 20) + HEADER_SIZE + 128 * 1024)).catch(() => undefined);
    await c.waitClosed();
    expect((c.ws as unknown as { _closeCode?: number })._closeCode).toBe(1009);
  });

  it("forged signatures strike, and an unauthenticated flood is refused and closed", async () => {
    const bystander = device();
    const good = await authedWs(hub.wsPort, bystander);
    const dev = device();
    const c = await authedWs(hub.wsPort, dev);
    const forged = app(dev, 10);
    forged[100] = (forged[100] ?? 0) ^ 0xff;
    await c.send(forged);
    await c.waitFor(isError("BAD_SIGNATURE"));
    await c.send(app(dev, 11)); // still usable after one strike
    await c.waitFor((f) => readHeader(f).requestId === 11);

    const forgedHello = await WsClient.connect(hub.wsPort);
    await forgedHello.send(hello(device(), "mallory", 1, device().privateKey));
    await forgedHello.waitFor(isError("BAD_SIGNATURE"));
    await forgedHello.waitClosed();

    const flooder = device();
    const flood = await WsClient.connect(hub.wsPort);
    for (let i = 0; i < 200 && !flood.closed; i++)
      await flood.send(app(flooder, i)).catch(() => undefined);
    await flood.waitFor(isError("UNAUTHENTICATED"));
    await flood.waitClosed();
    expect(flood.frames.filter(isOp(Opcode.APP_MESSAGE))).toEqual([]);
    expect(hub.host.sessionsOf(flooder.senderId)).toEqual([]);

    await good.send(app(bystander, 78));
    await good.waitFor((f) => readHeader(f).requestId === 78);
    good.close();
    c.close();
  });

  it("closes a WebSocket that does not authenticate in time", async () => {
    const quick = await startHub({ authTimeoutMs: 200 }, { websocket: true });
    const c = await WsClient.connect(quick.wsPort);
    await c.waitFor(isError("UNAUTHENTICATED"), 3000);
    await c.waitClosed();
    await quick.close(200);
  });

  it("max_connections is one budget across WebTransport and WebSocket", async () => {
    const small = await startHub({ maxConnections: 2 }, { websocket: true });
    const a = await authed(small.port, small.certHash, device());
    const b = await authedWs(small.wsPort, device());
    expect(small.host.size).toBe(2);
    const overWs = await WsClient.connect(small.wsPort);
    await overWs.waitFor(isError("TOO_MANY_CONNECTIONS"));
    await overWs.waitClosed();
    const overWt = await RawClient.connect(small.port, small.certHash);
    await overWt.waitFor(isError("TOO_MANY_CONNECTIONS"));
    b.close();
    await waitUntil(() => small.host.size === 1);
    const c = await authedWs(small.wsPort, device()); // a freed slot is usable again
    expect(small.host.size).toBe(2);
    a.close();
    c.close();
    await small.close(200);
  });

  it("serves wss with the configured certificate", async () => {
    const secure = await startHub({}, { websocket: "wss" });
    const dev = device();
    const c = await authedWs(secure.wsPort, dev, "alice", true);
    await c.send(app(dev, 5));
    await c.waitFor((f) => readHeader(f).requestId === 5);
    await expect(WsClient.connect(secure.wsPort)).rejects.toThrow(); // plain ws is not served
    c.close();
    await secure.close(200);
  });

  it("answers plain HTTP with 426 and refuses sessions once stopped", async () => {
    const own = await startHub({}, { websocket: true });
    const res = await fetch(`http://127.0.0.1:${own.wsPort}/`);
    expect(res.status).toBe(426);
    own.ws?.stopAccepting();
    const late = await WsClient.connect(own.wsPort);
    await late.waitFor(isError("INTERNAL"));
    await own.close(200);
  });
});

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}
