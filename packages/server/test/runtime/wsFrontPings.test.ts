/**
 * Client PINGs answered by a WebSocket front (websocket/frontPings.ts), its primary played
 * by the test on a clock of its own: the front answers an authenticated device's PING with
 * the very PONG the primary sends (same bytes, signed by the hub key), at most one per
 * MIN_GAP_MS per connection, and only while it hears from its primary; every other
 * message — a second PING too soon, a bad signature, another sender, a hub flag, a PING
 * of a connection without a device, a PING after the primary went silent — goes to the
 * primary untouched, whose admission answers it as before.
 */
import type { Server } from "node:net";
import { encodePayload, Flag, Frame, Opcode, responseFrame, verifyFrame } from "@kalandra/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MIN_GAP_MS, vouchMs } from "../../src/runtime/node/websocket/frontPings.js";
import {
  F,
  type FrontSettings,
  type Op,
  P,
} from "../../src/runtime/node/websocket/frontProtocol.js";
import { hubKeySigner } from "../../src/runtime/node/wire.js";
import { Front } from "../../src/runtime/node/wsFront.js";
import { FRONT_SETTINGS, listenFront, until } from "./frontHarness.js";
import { type Device, device, hubKey, rawFrame } from "./helpers.js";

const hub = hubKey();
const settings: FrontSettings = {
  ...FRONT_SETTINGS,
  pongKey: new Uint8Array(hub.privateKey.export({ format: "der", type: "pkcs8" })),
};
let t = 1_000_000;
let front: Front;
let server: Server;
let url: string;
/** Messages the front forwarded to its primary: [conn, bytes]. */
const forwarded: [number, Uint8Array][] = [];
const opened: number[] = [];
/** PINGs the front reported answering (F.PONGED counts). */
let reportedPongs = 0;

beforeAll(async () => {
  front = await Front.create(
    settings,
    (ops: Op[]) => {
      for (let i = 0; i < ops.length; ) {
        if (ops[i] === F.OPEN) opened.push(ops[i + 1] as number);
        if (ops[i] === F.PONGED) reportedPongs += ops[i + 1] as number;
        if (ops[i] === F.MESSAGE) forwarded.push([ops[i + 1] as number, ops[i + 2] as Uint8Array]);
        i += [F.OPEN, F.MESSAGE, F.SLOW, F.SILENT].includes(ops[i] as never) ? 3 : 2;
      }
    },
    () => t,
  );
  ({ server, url } = await listenFront(front));
});

afterAll(async () => {
  await front.stop(200);
  server.close();
});

/** A client, authenticated by the "primary" as `dev` (or with no device). */
async function client(dev: Device | undefined) {
  const seen = opened.length;
  const ws = new WebSocket(url);
  const got: Uint8Array[] = [];
  ws.on("message", (d: Buffer) => got.push(new Uint8Array(d)));
  await new Promise((r) => ws.once("open", r));
  const id = await until(() => opened[seen]);
  const key = dev?.publicKey ?? new Uint8Array(0);
  front.apply({ t: "batch", frames: [], ops: [P.AUTH, id, key, dev?.senderId ?? 0n] });
  return { ws, id, got };
}

const ping = (dev: Device, requestId: number, extra: { flags?: number; senderId?: bigint } = {}) =>
  rawFrame(
    dev,
    { opcode: Opcode.PING, requestId, ...extra },
    encodePayload(Opcode.PING, { nonce: requestId }),
  );

/** The PONG the primary's Session sends for PING `requestId` (session.ts `pong`). */
const primaryPong = (requestId: number) =>
  responseFrame(
    hubKeySigner(hub),
    { requestId, roomId: 0n },
    Opcode.PONG,
    encodePayload(Opcode.PONG, { nonce: requestId }),
  );

/** Sends `bytes` and waits until the front answered it or forwarded it. */
async function send(c: { ws: WebSocket; id: number; got: Uint8Array[] }, bytes: Uint8Array) {
  const [answers, forwards] = [c.got.length, forwarded.length];
  c.ws.send(bytes);
  return until(() => {
    if (c.got.length > answers) return "answered" as const;
    const f = forwarded.slice(forwards).find(([id]) => id === c.id);
    if (f === undefined) return undefined;
    expect([...f[1]]).toEqual([...bytes]); // untouched
    return "forwarded" as const;
  });
}

describe("client PINGs answered by the front", () => {
  it("answers the device's PING with the primary's own PONG, at most one per MIN_GAP_MS", async () => {
    const dev = device();
    const c = await client(dev);
    expect(await send(c, ping(dev, 7))).toBe("answered");
    const pong = c.got.at(-1) as Uint8Array;
    expect([...pong]).toEqual([...primaryPong(7)]);
    expect(verifyFrame(Frame.fromWire(pong), hub.publicKey)).toBe(true);
    expect(await send(c, ping(dev, 8))).toBe("forwarded"); // too soon: the primary's rates apply
    t += MIN_GAP_MS;
    expect(await send(c, ping(dev, 9))).toBe("answered");
    expect(front.pingsAnswered).toBe(2);
    // The primary counts them from one report a second (kalandra_websocket_front_pongs_total).
    await until(() => (reportedPongs === 2 ? true : undefined), 3000);
    c.ws.terminate();
  });

  it("leaves to the primary what it would refuse or does not know", async () => {
    const [dev, other] = [device(), device()];
    const c = await client(dev);
    t += MIN_GAP_MS;
    const answered = front.pingsAnswered;
    const refused = [
      rawFrame(
        dev,
        { opcode: Opcode.PING, requestId: 1 },
        encodePayload(Opcode.PING, { nonce: 1 }),
        other.privateKey,
      ),
      ping(dev, 2, { senderId: other.senderId }),
      ping(dev, 3, { flags: Flag.RESPONSE }),
      rawFrame(dev, { opcode: Opcode.PING, requestId: 4 }, new Uint8Array([0xa0])),
      rawFrame(
        dev,
        { opcode: Opcode.APP_MESSAGE, requestId: 5 },
        encodePayload(Opcode.PING, { nonce: 5 }),
      ),
    ];
    for (const bytes of refused) expect(await send(c, bytes)).toBe("forwarded");
    expect(front.pingsAnswered).toBe(answered);
    // Nothing of that used up its turn: the device's next good PING is answered.
    expect(await send(c, ping(dev, 6))).toBe("answered");
    const linkLike = await client(undefined);
    expect(await send(linkLike, ping(dev, 7))).toBe("forwarded");
    c.ws.terminate();
    linkLike.ws.terminate();
  });

  it("answers only while its primary is heard: a hung primary leaves its clients' PINGs unanswered", async () => {
    const dev = device();
    const c = await client(dev);
    // Half the PING interval the hub asks for, at most 15 s: a hung hub is noticed soon
    // after the client's (longer) timeout.
    expect([vouchMs(600), vouchMs(120_000), vouchMs(0), vouchMs(50)]).toEqual([
      300, 15_000, 15_000, 100,
    ]);
    t += settings.vouchMs;
    expect(await send(c, ping(dev, 1))).toBe("forwarded");
    front.alive(); // the primary's heartbeat
    t += MIN_GAP_MS;
    expect(await send(c, ping(dev, 2))).toBe("answered");
    c.ws.terminate();
  });
});
