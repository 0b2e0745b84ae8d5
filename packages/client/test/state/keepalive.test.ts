/**
 * The client core's keep-alive (issue 15; state/hubLink.ts over proto keepalive.ts): once the
 * session is up it PINGs after `intervalMs` without a frame from the hub, declares the hub
 * dead after `timeoutMs` (drops the connection so the transport reconnects, and tells the
 * application), answers the hub's own PINGs with a PONG, and is quiet while offline.
 */
import {
  createDeviceSigner,
  decodePayload,
  Flag,
  hubFrame,
  Opcode,
  responseFrame,
} from "@kalandra/proto";
import { describe, expect, it } from "vitest";
import { deviceFromSeed } from "../../src/state/device.js";
import { type HubConnection, HubLink, negotiatedKeepalive } from "../../src/state/hubLink.js";
import { RequestIds } from "../../src/state/persistence.js";
import { parseFrame, verifyFrame } from "../../src/state/wire.js";
import { MemoryStore } from "../../src/store.js";
import { ManualTime } from "../support/env.js";

const hub = createDeviceSigner(new Uint8Array(32).fill(9));

class FakeConnection implements HubConnection {
  sent: Uint8Array[] = [];
  dropped: string[] = [];
  #cb: ((f: Uint8Array) => void) | undefined;
  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  onFrame(cb: (f: Uint8Array) => void): void {
    this.#cb = cb;
  }
  close(): void {}
  drop(reason: string): void {
    this.dropped.push(reason);
  }
  push(frame: Uint8Array): void {
    this.#cb?.(frame);
  }
  opcodes(): number[] {
    return this.sent.map((b) => parseFrame(b).header.opcode);
  }
}

async function setup() {
  const time = new ManualTime(0n);
  const conn = new FakeConnection();
  const device = deviceFromSeed("alice", new Uint8Array(32).fill(4));
  const silent: number[] = [];
  const link = new HubLink({
    connection: conn,
    clock: time,
    timers: time,
    keepalive: { intervalMs: 1000, timeoutMs: 3500 },
    onHubSilent: (ms) => silent.push(ms),
    policy: { retryMs: 60_000, maxAttempts: 3 },
    requestIds: await RequestIds.load(new MemoryStore()),
    device,
    hubPublicKey: hub.publicKey,
    onPush: () => undefined,
  });
  const pong = (requestId: number, nonce: number) =>
    responseFrame(hub, { requestId, roomId: 0n }, Opcode.PONG, { nonce });
  return { time, conn, device, link, silent, pong };
}

describe("client keep-alive", () => {
  it("takes a longer interval the hub asked for in AUTH_OK (ping_ms), the timeout growing with it", async () => {
    const t = await setup();
    t.link.watch(4000); // own: 1000 / 3500; asked: every 4000 → dead after 6500
    t.time.advance(3999);
    expect(t.conn.sent).toEqual([]);
    t.time.advance(1);
    expect(t.conn.opcodes()).toEqual([Opcode.PING]);
    t.time.advance(2499);
    expect(t.conn.dropped).toEqual([]);
    t.time.advance(1);
    expect(t.conn.dropped).toEqual(["hub silent for 6500 ms"]);
    // The next session's AUTH_OK says nothing: the client's own interval again.
    t.link.watch();
    t.time.advance(1000);
    expect(t.conn.opcodes()).toEqual([Opcode.PING, Opcode.PING]);
  });

  it("keeps its own interval when the hub asks for a shorter one, and stays off when off", () => {
    const own = { intervalMs: 45_000, timeoutMs: 120_000 };
    expect(negotiatedKeepalive(own, 10_000)).toEqual(own);
    expect(negotiatedKeepalive(own, undefined)).toEqual(own);
    expect(negotiatedKeepalive(own, 120_000)).toEqual({ intervalMs: 120_000, timeoutMs: 195_000 });
    expect(negotiatedKeepalive({ intervalMs: 0, timeoutMs: 0 }, 120_000)).toEqual({
      intervalMs: 0,
      timeoutMs: 0,
    });
    expect(negotiatedKeepalive({ intervalMs: 45_000, timeoutMs: 0 }, 90_000)).toEqual({
      intervalMs: 90_000,
      timeoutMs: 0,
    });
  });

  it("pings after each quiet interval, drops the connection and tells the app at the timeout", async () => {
    const t = await setup();
    t.link.watch();
    t.time.advance(3400);
    expect(t.conn.opcodes()).toEqual([Opcode.PING, Opcode.PING, Opcode.PING]);
    const ping = parseFrame(t.conn.sent[0]!);
    expect(ping.header.senderId).toBe(t.device.senderId);
    expect(verifyFrame(ping, t.device.signer.publicKey)).toBe(true);
    expect(t.conn.dropped).toEqual([]);
    t.time.advance(100);
    expect(t.conn.dropped).toEqual(["hub silent for 3500 ms"]);
    expect(t.silent).toEqual([3500]);
    t.time.advance(100_000); // stopped until the next session
    expect(t.conn.sent).toHaveLength(3);
  });

  it("any frame from the hub (its PONG included) counts as life", async () => {
    const t = await setup();
    t.link.watch();
    for (let i = 0; i < 10; i++) {
      t.time.advance(1100);
      const ping = parseFrame(t.conn.sent.at(-1)!);
      const { nonce } = decodePayload(Opcode.PING, ping.payload);
      t.conn.push(t.pong(ping.header.requestId, nonce));
    }
    expect(t.conn.opcodes()).toEqual(Array(10).fill(Opcode.PING));
    expect(t.conn.dropped).toEqual([]);
    expect(t.silent).toEqual([]);
  });

  it("answers the hub's signed PING with a PONG echoing its nonce; ignores an unsigned one", async () => {
    const t = await setup();
    t.link.watch();
    t.conn.push(hubFrame(hub, Opcode.PING, 0n, 0n, { nonce: 77 }, Flag.EXTERNAL, 77));
    const [pong] = t.conn.sent.map(parseFrame);
    expect(pong?.header.opcode).toBe(Opcode.PONG);
    expect(pong!.header.requestId).toBe(77);
    expect(pong!.header.flags).toBe(0); // a plain frame: the hub refuses RESPONSE from clients
    expect(decodePayload(Opcode.PONG, pong!.payload)).toEqual({ nonce: 77 });
    const forged = hubFrame(hub, Opcode.PING, 0n, 0n, { nonce: 78 }, Flag.EXTERNAL, 78);
    forged[100] = (forged[100] ?? 0) ^ 1; // breaks the signature
    t.conn.push(forged);
    expect(t.conn.sent).toHaveLength(1);
  });

  it("is quiet before the session is up and while offline", async () => {
    const t = await setup();
    t.time.advance(10_000);
    expect(t.conn.sent).toEqual([]);
    t.link.watch();
    t.link.goOffline();
    t.time.advance(10_000);
    expect(t.conn.sent).toEqual([]);
    expect(t.silent).toEqual([]);
  });
});
