/** Test helpers: a listener over loopback with an echo handler, and a raw WebTransport client. */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { WebTransport } from "@fails-components/webtransport";
import {
  decodeErrorPayload,
  decodePayload,
  deriveSenderId,
  encodeFrame,
  encodePayload,
  HEADER_SIZE,
  Opcode,
  StreamDecoder,
  systemClock,
  systemRng,
  systemTimers,
} from "@kalandra/proto";
import { ed25519KeySigner, ed25519RawPublicKey } from "@kalandra/proto/node";
import { generateDevCertificate } from "../../src/runtime/node/devCert.js";
import type { FrameHandler } from "../../src/runtime/node/session.js";
import {
  type RuntimeLimits,
  WebTransportListener,
  WT_FLOW_OPTIONS,
  WT_PATH,
} from "../../src/runtime/node/transport.js";
import { type HubKey, readHeader } from "../../src/runtime/node/wire.js";

export const defaultLimits: RuntimeLimits = {
  maxPayloadBytes: 1 << 20,
  connectionRatePerSec: 1e6,
  connectionBurst: 1e6,
  deviceRatePerSec: 1e6,
  deviceBurst: 1e6,
  maxStrikes: 3,
  authTimeoutMs: 10_000,
  maxConnections: 100,
};

export function hubKey(): HubKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: ed25519RawPublicKey(publicKey) };
}

export interface Device {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  senderId: bigint;
}

export function device(): Device {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = ed25519RawPublicKey(publicKey);
  return { privateKey, publicKey: raw, senderId: deriveSenderId(raw) };
}

/** Echoes every frame back to its session (the runtime's stand-in for HubCore). */
export class EchoHandler implements FrameHandler {
  attached: { sessionId: string; userId: string }[] = [];
  detached: string[] = [];
  sink: (sessionId: string, frame: Uint8Array) => void = () => undefined;
  attachSession(sessionId: string, _key: Uint8Array, userId: string): void {
    this.attached.push({ sessionId, userId });
  }
  detachSession(sessionId: string): void {
    this.detached.push(sessionId);
  }
  handleFrame(sessionId: string, _sender: bigint, bytes: Uint8Array): void {
    this.sink(sessionId, bytes);
  }
}

export async function startHub(limits: Partial<RuntimeLimits> = {}) {
  const cert = generateDevCertificate();
  const hub = hubKey();
  const handler = new EchoHandler();
  const listener = new WebTransportListener({
    host: "127.0.0.1",
    port: 0,
    cert: cert.cert,
    key: cert.key,
    hub,
    handler,
    limits: { ...defaultLimits, ...limits },
    clock: systemClock,
    rng: systemRng,
    timers: systemTimers(),
  });
  handler.sink = (id, f) => listener.deliver(id, f);
  const { port } = await listener.start();
  return { listener, handler, hub, port, certHash: cert.hash };
}

/** A raw client: sends arbitrary bytes, collects decoded frames. */
export class RawClient {
  frames: Uint8Array[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private constructor(
    readonly wt: WebTransport,
    private readonly writer: WritableStreamDefaultWriter<Uint8Array>,
  ) {}

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

  private markClosed(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
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

  close(): void {
    try {
      this.wt.close();
    } catch {
      // closed
    }
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
  const c = await RawClient.connect(port, certHash);
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
