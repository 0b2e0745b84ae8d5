/** Test helpers: listeners over loopback in front of a HubHost with an echo core, and raw WebTransport and WebSocket clients. */
import { type KeyObject, randomBytes } from "node:crypto";
import { WebTransport } from "@fails-components/webtransport";
import {
  decodeErrorPayload,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  type Frame,
  HEADER_SIZE,
  Opcode,
  StreamDecoder,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import {
  ed25519KeySigner,
  ed25519PrivateKeyObject,
  ed25519RawPublicKey,
} from "@kalandra/proto/node";
import { afterAll, beforeAll } from "vitest";
import { WebSocket } from "ws";
import { type FrameCore, HubHost } from "../../src/hub/hubHost.js";
import { generateDevCertificate } from "../../src/runtime/node/devCert.js";
import {
  type RuntimeLimits,
  WebTransportListener,
  WT_FLOW_OPTIONS,
  WT_PATH,
} from "../../src/runtime/node/transport.js";
import { type HubKey, readHeader } from "../../src/runtime/node/wire.js";
import {
  WebSocketListener,
  type WebSocketListenerOptions,
  WS_PATH,
} from "../../src/runtime/node/wsTransport.js";
import type { Sink } from "../../src/vocabulary/target.js";

export const defaultLimits: RuntimeLimits = {
  maxPayloadBytes: 1 << 20,
  connectionRatePerSec: 1e6,
  connectionBurst: 1e6,
  deviceRatePerSec: 1e6,
  deviceBurst: 1e6,
  maxStrikes: 3,
  authTimeoutMs: 10_000,
  keepaliveIntervalMs: 60_000,
  idleTimeoutMs: 150_000,
  maxConnections: 100,
  maxConnectionsPerIp: 0,
  maxSessionsPerUser: 0,
};

// Keys from a random seed, never generateKeyPairSync: Node 20 can deadlock when a garbage
// collection during a fresh key's export destroys its KeyGenJob (runtime/node/hubKey.ts).
export function hubKey(): HubKey {
  const privateKey = ed25519PrivateKeyObject(randomBytes(32));
  return { privateKey, publicKey: ed25519RawPublicKey(privateKey) };
}

export interface Device {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  senderId: bigint;
}

export function device(): Device {
  const privateKey = ed25519PrivateKeyObject(randomBytes(32));
  const raw = ed25519RawPublicKey(privateKey);
  return { privateKey, publicKey: raw, senderId: deriveSenderId(raw) };
}

/**
 * The runtime's stand-in for HubCore behind the real HubHost: records attachments and
 * echoes every frame back to its session, or hands it to `onFrame` when a test sets it.
 */
export class EchoRecorder implements FrameCore {
  attached: { sessionId: string; userId: string }[] = [];
  detached: string[] = [];
  onFrame: ((sessionId: string, frame: Frame) => void) | undefined;
  constructor(private readonly sink: Sink) {}
  attachSession(sessionId: string, _key: Uint8Array, userId: string): void {
    this.attached.push({ sessionId, userId });
  }
  detachSession(sessionId: string): void {
    this.detached.push(sessionId);
  }
  handleVerified(sessionId: string, frame: Frame): undefined {
    if (this.onFrame !== undefined) this.onFrame(sessionId, frame);
    else this.reply(sessionId, frame.toWire());
    return undefined;
  }
  reply(sessionId: string, frame: Uint8Array): void {
    this.sink({ kind: "session", sessionId }, frame);
  }
}

/**
 * A WebTransport listener on loopback in front of its own HubHost over an `EchoRecorder`;
 * with `websocket`, a WebSocket listener in front of the same host too.
 */
export async function startHub(
  limits: Partial<RuntimeLimits> = {},
  o: { websocket?: boolean | "wss"; http?: WebSocketListenerOptions["http"] } = {},
) {
  const cert = generateDevCertificate();
  const hub = hubKey();
  const all = { ...defaultLimits, ...limits };
  const host = await HubHost.open(
    { clock: systemClock, limits: all },
    (sink) => new EchoRecorder(sink),
  );
  const shared = {
    host: "127.0.0.1",
    port: 0,
    hubKey: hub,
    hub: host,
    limits: all,
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
  };
  const listener = new WebTransportListener({ ...shared, cert: cert.cert, key: cert.key });
  const { port } = await listener.start();
  const tls = o.websocket === "wss" ? { tls: { cert: cert.cert, key: cert.key } } : {};
  const http = o.http === undefined ? {} : { http: o.http };
  const ws = o.websocket ? new WebSocketListener({ ...shared, ...tls, ...http }) : undefined;
  const wsPort = (await ws?.start())?.port ?? 0;
  /** Closes both listeners, each waiting at most `timeoutMs` for queued writes. */
  const close = async (timeoutMs: number) => {
    await Promise.all([listener.close(timeoutMs), ws?.close(timeoutMs)]);
  };
  return { listener, ws, wsPort, host, core: host.core, hub, port, certHash: cert.hash, close };
}

export type TestHub = Awaited<ReturnType<typeof startHub>>;

/** One `startHub` for a whole test file: started before its tests, closed after them. */
export function hubPerFile(
  limits: Partial<RuntimeLimits>,
  o: Parameters<typeof startHub>[1] = {},
  closeMs = 1000,
): TestHub {
  const hub = {} as TestHub;
  beforeAll(async () => {
    Object.assign(hub, await startHub(limits, o));
  });
  afterAll(() => hub.close(closeMs));
  return hub;
}

/** Collects decoded frames from the hub and lets a test wait for one. */
class FrameCollector {
  frames: Uint8Array[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  protected markClosed(): void {
    this.closed = true;
    this.wake();
  }

  protected wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits for a frame matching `pred` (searching from index `from`), or throws after `ms`. */
  async waitFor(pred: (f: Uint8Array) => boolean, ms = 5000, from = 0): Promise<Uint8Array> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.frames.slice(from).find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error("closed while waiting");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a frame");
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("not closed");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A raw client: sends arbitrary bytes, collects decoded frames. */
export class RawClient extends FrameCollector {
  private constructor(
    readonly wt: WebTransport,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
  ) {
    super();
  }

  static async connect(port: number, certHash: Uint8Array): Promise<RawClient> {
    const wt = new WebTransport(`https://127.0.0.1:${port}${WT_PATH}`, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: certHash.slice() }],
      forceReliable: true,
      ...WT_FLOW_OPTIONS,
    } as never);
    await wt.ready;
    const bidi = await wt.createBidirectionalStream();
    const c = new RawClient(
      wt,
      bidi.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>,
    );
    c.pump(bidi.readable as ReadableStream<Uint8Array>);
    wt.closed.then(
      () => c.markClosed(),
      () => c.markClosed(),
    );
    return c;
  }

  private async pump(readable: ReadableStream<Uint8Array>): Promise<void> {
    const split = new StreamDecoder({ maxPayload: 64 << 20 });
    const reader = readable.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        for (const f of split.push(r.value)) this.frames.push(f.toWire().slice());
        this.wake();
      }
    } catch {
      // stream reset
    }
    this.markClosed();
  }

  async send(bytes: Uint8Array): Promise<void> {
    await this.writer.write(bytes);
  }

  /** Ends our side of the stream. */
  async end(): Promise<void> {
    await this.writer.close();
  }

  close(): void {
    try {
      this.wt.close();
    } catch {
      // closed
    }
  }
}

/** A raw WebSocket client: one `send` is one binary message (or a text one). */
export class WsClient extends FrameCollector {
  private constructor(readonly ws: WebSocket) {
    super();
  }

  /**
   * `wss`: TLS, accepting the listener's self-signed test certificate. `autoPong` false: a
   * client whose WebSocket does not answer ping frames (a vanished one, as the hub sees it).
   */
  static async connect(port: number, wss = false, autoPong = true): Promise<WsClient> {
    const ws = wss
      ? new WebSocket(`wss://127.0.0.1:${port}${WS_PATH}`, { rejectUnauthorized: false, autoPong })
      : new WebSocket(`ws://127.0.0.1:${port}${WS_PATH}`, { autoPong });
    const c = new WsClient(ws);
    ws.on("message", (data: Buffer) => {
      c.frames.push(new Uint8Array(data));
      c.wake();
    });
    ws.on("close", () => c.markClosed());
    ws.on("error", () => c.markClosed());
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return c;
  }

  async send(bytes: Uint8Array | string): Promise<void> {
    await new Promise<void>((r, j) => this.ws.send(bytes, (e) => (e ? j(e) : r())));
  }

  close(): void {
    this.ws.close();
  }
}

export const isOp = (op: number) => (f: Uint8Array) => readHeader(f).opcode === op;
export const errorName = (f: Uint8Array) => decodeErrorPayload(f.subarray(HEADER_SIZE)).name;
export const isError = (name: string) => (f: Uint8Array) =>
  readHeader(f).opcode === Opcode.ERROR && errorName(f) === name;

export interface FrameFields {
  opcode: number;
  requestId?: number;
  roomId?: bigint;
  senderId?: bigint;
  epoch?: bigint;
  flags?: number;
}

/** A frame signed by `signer` (default: the device) with a raw payload. */
export function rawFrame(
  dev: Device,
  fields: FrameFields,
  payload: Uint8Array,
  signerKey: KeyObject = dev.privateKey,
): Uint8Array {
  return encodeFrame(
    { requestId: 0, roomId: 0n, senderId: dev.senderId, epoch: 0n, ...fields, payload },
    ed25519KeySigner(signerKey),
  );
}

export function app(dev: Device, requestId: number, bytes = 16, roomId = 7n): Uint8Array {
  return rawFrame(
    dev,
    { opcode: Opcode.APP_MESSAGE, requestId, roomId },
    encodePayload(Opcode.APP_MESSAGE, { generation: requestId, ciphertext: new Uint8Array(bytes) }),
  );
}

export function hello(
  dev: Device,
  userId = "alice",
  requestId = 1,
  signerKey?: KeyObject,
): Uint8Array {
  return rawFrame(
    dev,
    { opcode: Opcode.HELLO, requestId },
    encodePayload(Opcode.HELLO, { device_key: dev.publicKey, user_id: userId, client: "test" }),
    signerKey,
  );
}

/** Connects and performs the auth handshake as `dev`. */
export async function authed(
  port: number,
  certHash: Uint8Array,
  dev: Device,
  userId = "alice",
): Promise<RawClient> {
  return handshake(await RawClient.connect(port, certHash), dev, userId);
}

/** Connects over WebSocket and performs the auth handshake as `dev`. */
export async function authedWs(
  port: number,
  dev: Device,
  userId = "alice",
  wss = false,
  autoPong = true,
): Promise<WsClient> {
  return handshake(await WsClient.connect(port, wss, autoPong), dev, userId);
}

async function handshake<C extends RawClient | WsClient>(
  c: C,
  dev: Device,
  userId: string,
): Promise<C> {
  await c.send(hello(dev, userId));
  const ch = await c.waitFor(isOp(Opcode.AUTH_CHALLENGE));
  const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, ch.subarray(HEADER_SIZE));
  await c.send(
    rawFrame(
      dev,
      { opcode: Opcode.AUTH_RESPONSE, requestId: 2 },
      encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
    ),
  );
  await c.waitFor(isOp(Opcode.AUTH_OK));
  return c;
}

/**
 * Each kind of bad WebSocket message with the typed error it gets (a frame declaring more
 * than 1 MiB: the listener's `maxPayloadBytes` must be 1 MiB).
 */
export const BAD_WS_MESSAGES: [string, (dev: Device) => Uint8Array | string][] = [
  ["BAD_PAYLOAD", () => "hello as text"],
  ["TRUNCATED", (dev) => app(dev, 5, 100).subarray(0, 150)],
  ["TRAILING_BYTES", (dev) => Buffer.concat([app(dev, 6), app(dev, 7)])],
  ["BAD_MAGIC", () => new Uint8Array(200).fill(0xab)],
  [
    "PAYLOAD_TOO_LARGE",
    (dev) => {
      const over = app(dev, 8);
      new DataView(over.buffer).setUint32(60, (1 << 20) + 1);
      return over;
    },
  ],
];
