/**
 * One WebSocket front (wsFront.ts) in this process, its primary played by the
 * test: it reports a connection with its source address, forwards binary messages whole
 * and text ones as TEXT, caps messages small until the primary says AUTH, writes a frame
 * listed once for several connections to each, closes with the primary's code and reason,
 * reports a client that stops reading, and keeps authenticated sessions alive with
 * WebSocket ping frames, reporting one silent for the idle timeout.
 */
import type { Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  F,
  type FrontSettings,
  type Op,
  P,
} from "../../src/runtime/node/websocket/frontProtocol.js";
import { Front } from "../../src/runtime/node/wsFront.js";
import { FRONT_SETTINGS, listenFront, until } from "./frontHarness.js";

/** AUTH's device of a connection whose PINGs the front leaves to the primary. */
const NONE = new Uint8Array(0);
const settings: FrontSettings = {
  ...FRONT_SETTINGS,
};
let front: Front;
let server: Server;
let url: string;
/** Every operation the front reported, in order. */
const reported: Op[][] = [];

beforeAll(async () => {
  front = await Front.create(settings, (ops) => {
    for (let i = 0; i < ops.length; ) {
      const n = [F.OPEN, F.MESSAGE, F.SLOW, F.SILENT].includes(ops[i] as never) ? 3 : 2;
      reported.push(ops.slice(i, i + n));
      i += n;
    }
  });
  ({ server, url } = await listenFront(front));
});

afterAll(async () => {
  await front.stop(200);
  server.close();
});

/** Opens a client; resolves with it and the connection id the front reported. */
async function open(from = "127.0.0.1") {
  const seen = reported.length;
  const ws = new WebSocket(url, { localAddress: from });
  const got: Buffer[] = [];
  ws.on("message", (d: Buffer) => got.push(d));
  ws.on("error", () => undefined);
  await new Promise((r) => ws.once("open", r));
  const op = await until(() => reported.slice(seen).find((o) => o[0] === F.OPEN));
  expect(op[2]).toBe(from);
  return { ws, id: op[1] as number, got };
}

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((r) =>
    ws.once("close", (code, reason) => r({ code, reason: reason.toString() })),
  );

describe("WebSocket front process (in this process)", () => {
  it("reports the connection and forwards binary messages whole, text as TEXT", async () => {
    const { ws, id } = await open("127.0.0.3");
    ws.send(new Uint8Array([1, 2, 3]));
    ws.send("text");
    const msg = await until(() => reported.find((o) => o[0] === F.MESSAGE && o[1] === id));
    expect([...(msg[2] as Uint8Array)]).toEqual([1, 2, 3]);
    await until(() => reported.find((o) => o[0] === F.TEXT && o[1] === id));
    ws.close();
    await until(() => reported.find((o) => o[0] === F.CLOSED && o[1] === id));
    expect(front.size).toBe(0);
  });

  it("caps messages at the pre-auth size until AUTH, then at the full size", async () => {
    const a = await open();
    a.ws.send(new Uint8Array(4096));
    expect((await closed(a.ws)).code).toBe(1009);
    const b = await open();
    front.apply({ t: "batch", frames: [], ops: [P.AUTH, b.id, NONE, 0n] });
    b.ws.send(new Uint8Array(4096));
    const msg = await until(() => reported.find((o) => o[0] === F.MESSAGE && o[1] === b.id));
    expect((msg[2] as Uint8Array).length).toBe(4096);
    b.ws.close();
  });

  it("writes a frame listed once to every connection named, then closes with the primary's code", async () => {
    const a = await open();
    const b = await open();
    const frame = new Uint8Array([9, 8, 7]);
    const aClosed = closed(a.ws);
    front.apply({
      t: "batch",
      frames: [frame],
      ops: [P.SEND, a.id, 0, P.SEND, b.id, 0, P.CLOSE, a.id, 1008, "wire error BAD_MAGIC"],
    });
    await until(() => (a.got.length > 0 && b.got.length > 0) || undefined);
    expect([...(a.got[0] ?? [])]).toEqual([9, 8, 7]);
    expect([...(b.got[0] ?? [])]).toEqual([9, 8, 7]);
    expect(await aClosed).toEqual({ code: 1008, reason: "wire error BAD_MAGIC" });
    b.ws.close();
  });

  it("reports a client that stops reading and writes nothing more to it", async () => {
    const c = await open();
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = new Uint8Array(60 * 1024);
    for (let i = 0; i < 200 && !reported.some((o) => o[0] === F.SLOW && o[1] === c.id); i++) {
      front.apply({ t: "batch", frames: [big], ops: [P.SEND, c.id, 0] });
      await new Promise((r) => setImmediate(r));
    }
    const slow = await until(() => reported.find((o) => o[0] === F.SLOW && o[1] === c.id));
    expect(slow[2] as number).toBeGreaterThan(settings.maxQueuedBytes);
    c.ws.terminate();
  });

  it("refuses an operation it does not know (a primary of another version)", () => {
    expect(() => front.apply({ t: "batch", frames: [], ops: [99, 1] })).toThrow(/unknown/);
  });
});

describe("keep-alive in the front (WebSocket ping frames)", () => {
  const keepalive = { intervalMs: 100, timeoutMs: 400 };

  it("pings a quiet authenticated client, keeps one that answers, reports one that does not", async () => {
    front.update({ ...settings, keepalive });
    try {
      const answers = await open();
      const mute = new WebSocket(url, { autoPong: false });
      mute.on("error", () => undefined);
      const seen = reported.length;
      await new Promise((r) => mute.once("open", r));
      const muteId = (await until(() => reported.slice(seen).find((o) => o[0] === F.OPEN)))[1];
      const talks = await open();
      const unauthenticated = await open();
      let pings = 0;
      answers.ws.on("ping", () => pings++);
      front.apply({
        t: "batch",
        frames: [],
        ops: [
          ...[P.AUTH, answers.id, NONE, 0n],
          ...[P.AUTH, muteId as number, NONE, 0n],
          ...[P.AUTH, talks.id, NONE, 0n],
        ],
      });
      const chatter = setInterval(() => talks.ws.send(new Uint8Array([1])), 50);
      const silent = await until(() => reported.find((o) => o[0] === F.SILENT), 3000);
      expect(silent[1]).toBe(muteId);
      expect(silent[2] as number).toBeGreaterThanOrEqual(keepalive.timeoutMs);
      // Well past the timeout: the others are still not reported.
      await new Promise((r) => setTimeout(r, 3 * keepalive.timeoutMs));
      clearInterval(chatter);
      const silentIds = reported.filter((o) => o[0] === F.SILENT).map((o) => o[1]);
      expect(silentIds).toEqual([muteId]);
      expect(pings).toBeGreaterThanOrEqual(2);
      expect(silentIds).not.toContain(unauthenticated.id); // before AUTH the primary's timer rules
      for (const c of [answers.ws, mute, talks.ws, unauthenticated.ws]) c.terminate();
    } finally {
      front.update(settings);
    }
  });
});
