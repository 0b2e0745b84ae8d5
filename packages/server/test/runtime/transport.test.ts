import { Opcode } from "@kalandra/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildFrame,
  decodeCborMap,
  encodeCbor,
  MAGIC,
  readHeader,
} from "../../src/runtime/node/wire.js";
import {
  authed,
  device,
  errorName,
  isError,
  isOp,
  RawClient,
  signed,
  startHub,
} from "./helpers.js";

let hub: Awaited<ReturnType<typeof startHub>>;

beforeAll(async () => {
  hub = await startHub({
    maxPayloadBytes: 1 << 20,
    connectionRatePerSec: 200,
    connectionBurst: 200,
    maxConnections: 20,
  });
});
afterAll(async () => {
  await hub.listener.close(1000);
});

const app = (dev: ReturnType<typeof device>, requestId: number, bytes = 16) =>
  signed(
    dev,
    { opcode: Opcode.APP_MESSAGE, requestId, roomId: 7n },
    { generation: requestId, ciphertext: new Uint8Array(bytes) },
  );

describe("WebTransport listener", () => {
  it("authenticates a device and echoes frames in order", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev, "alice");
    const ok = c.frames.find(isOp(Opcode.AUTH_OK)) as Uint8Array;
    expect(decodeCborMap(ok.subarray(128)).sender_id).toBe(dev.senderId);
    expect(hub.handler.attached.some((a) => a.userId === "alice")).toBe(true);
    for (let i = 1; i <= 50; i++) await c.send(app(dev, 100 + i));
    await c.waitFor((f) => readHeader(f).requestId === 150);
    const ids = c.frames.filter(isOp(Opcode.APP_MESSAGE)).map((f) => readHeader(f).requestId);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
    c.close();
  });

  it("answers PING with PONG", async () => {
    const dev = device();
    const c = await authed(hub.port, hub.certHash, dev);
    await c.send(signed(dev, { opcode: Opcode.PING, requestId: 9 }, { nonce: 5 }));
    const pong = await c.waitFor(isOp(Opcode.PONG));
    expect(readHeader(pong).requestId).toBe(9);
    c.close();
  });

  it("refuses a HELLO whose signature is forged and closes that session", async () => {
    const dev = device();
    const other = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.waitFor(isOp(Opcode.AUTH_CHALLENGE));
    // signed by `other` while claiming `dev`'s key and sender_id
    const forged = buildFrame(
      { opcode: Opcode.HELLO, senderId: dev.senderId, requestId: 1 },
      encodeCbor({ device_key: dev.publicKey, user_id: "mallory", client: "t" }),
      other.privateKey,
    );
    await c.send(forged);
    await c.waitFor(isError("BAD_SIGNATURE"));
    await c.waitClosed();
  });

  it("refuses an AUTH_RESPONSE with the wrong nonce", async () => {
    const dev = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.waitFor(isOp(Opcode.AUTH_CHALLENGE));
    await c.send(
      signed(
        dev,
        { opcode: Opcode.HELLO, requestId: 1 },
        { device_key: dev.publicKey, user_id: "a", client: "t" },
      ),
    );
    await c.send(
      signed(dev, { opcode: Opcode.AUTH_RESPONSE, requestId: 2 }, { nonce: new Uint8Array(32) }),
    );
    await c.waitFor(isError("UNAUTHENTICATED"));
    await c.waitClosed();
  });

  it("refuses frames before authentication", async () => {
    const dev = device();
    const c = await RawClient.connect(hub.port, hub.certHash);
    await c.waitFor(isOp(Opcode.AUTH_CHALLENGE));
    await c.send(app(dev, 1));
    await c.waitFor(isError("UNAUTHENTICATED"));
    c.close();
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
    const frame = app(dev3, 5, 100);
    await trunc.send(frame.subarray(0, 150));
    // end our side of the stream inside the frame
    await (trunc as unknown as { writer: WritableStreamDefaultWriter }).writer.close();
    await trunc.waitFor(isError("TRUNCATED"));

    await good.send(app(bystander, 77));
    await good.waitFor((f) => readHeader(f).requestId === 77);
    good.close();
  });

  it("forged signatures and other devices' sender_ids get errors, then a disconnect after repeats", async () => {
    const dev = device();
    const victim = device();
    const c = await authed(hub.port, hub.certHash, dev);
    const forged = app(dev, 10);
    forged[100] = (forged[100] ?? 0) ^ 0xff; // break the signature
    await c.send(forged);
    await c.waitFor(isError("BAD_SIGNATURE"));
    await c.send(app(victim, 11)); // a frame signed by and naming another device
    await c.waitFor(isError("SENDER_MISMATCH"));
    // still usable after two strikes
    await c.send(app(dev, 12));
    await c.waitFor((f) => readHeader(f).requestId === 12);
    await c.send(app(victim, 13));
    await c.waitClosed();
    const errs = c.frames.filter(isOp(Opcode.ERROR)).map(errorName);
    expect(errs).toEqual(["BAD_SIGNATURE", "SENDER_MISMATCH", "SENDER_MISMATCH"]);
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

  it("refuses sessions beyond max_connections with TOO_MANY_CONNECTIONS", async () => {
    const small = await startHub({ maxConnections: 1 });
    const a = await authed(small.port, small.certHash, device());
    const b = await RawClient.connect(small.port, small.certHash);
    await b.waitFor(isError("TOO_MANY_CONNECTIONS"));
    a.close();
    await small.listener.close(500);
  });
});
