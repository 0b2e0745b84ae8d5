/**
 * What the security suite needs: a real kalandrad child process on loopback, and a raw
 * session over its WebSocket listener that sends any frame an attacker could build (own
 * flags, own payloads, own claims) and reads every frame the hub sends back.
 * `SECURITY_HUB_LOG=/tmp/hub.log` keeps the hub's debug log.
 */
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  type DeviceKey,
  decodeErrorPayload,
  decodePayload,
  encodeFrame,
  encodePayload,
  Flag,
  Frame,
  generateDeviceKey,
  Opcode,
  type PayloadOf,
  systemRng,
} from "@kalandra/proto";
import { type Kalandrad, startKalandrad, type TempDir, tempDir } from "@kalandra/test-support";
import WebSocket from "ws";

const BIN = join(
  dirname(createRequire(import.meta.url).resolve("@kalandra/server")),
  "../bin/kalandrad.mjs",
);

export interface SecurityHub extends Kalandrad {
  dir: TempDir;
  /** Everything the hub wrote to stdout (its JSON log). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts kalandrad on loopback over a fresh data directory. `env` sets config keys as
 * KALANDRA_SECTION__KEY variables; `args` go after `start` (e.g. `["--config", file]`).
 */
export async function startHub(
  o: { env?: Record<string, string>; args?: string[]; monitoring?: boolean } = {},
): Promise<SecurityHub> {
  const dir = tempDir("security");
  const file = process.env.SECURITY_HUB_LOG;
  let out = "";
  const hub = await startKalandrad({
    bin: BIN,
    dataDir: join(dir.path, "data"),
    // The monitoring listener (admin API) on a port the OS picks when asked for.
    ...(o.monitoring === true ? {} : { monitoringListen: "" }),
    env: { KALANDRA_SERVER__LOG_LEVEL: "debug", ...o.env },
    ...(o.args === undefined ? {} : { args: o.args }),
    onStdout: (d) => {
      out += d;
      if (file) appendFileSync(file, d);
    },
  });
  return {
    ...hub,
    dir,
    log: () => out,
    async stop() {
      if (hub.child.exitCode === null && hub.child.signalCode === null) {
        hub.child.kill("SIGTERM");
        await hub.exit;
      }
      dir.cleanup();
    },
  };
}

/** A frame the attacker sends: any header fields, any payload bytes. */
export interface RawRequest {
  opcode: number;
  roomId?: bigint;
  epoch?: bigint;
  flags?: number;
  payload: Uint8Array;
  /** Sign with this key instead of the session's (forgeries). */
  signer?: DeviceKey;
  /** Claimed sender_id instead of the session's. */
  senderId?: bigint;
}

/**
 * One WebSocket session driven frame by frame. `open` runs the handshake with a claimed
 * user id (and whatever HELLO fields the attacker chooses); `request` sends one frame and
 * resolves with the hub's answer to it.
 */
export class RawSession {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private nextRequestId = 1;
  private closedWith: { code: number; reason: string } | undefined;
  private readonly closedPromise: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    readonly key: DeviceKey,
  ) {
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      const f = Frame.fromWire(new Uint8Array(data));
      this.frames.push(f);
      const i = this.waiters.findIndex((w) => w.match(f));
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(f);
    });
    this.closedPromise = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      }),
    );
  }

  /** A WebSocket to the hub, not yet authenticated. */
  static async connect(hub: Kalandrad, key: DeviceKey = generateDeviceKey(systemRng)) {
    const ws = new WebSocket(hub.websocket);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new RawSession(ws, key);
  }

  /**
   * Connects and authenticates as `userId` (the claim HELLO makes) with a new or given key;
   * `hello` overrides HELLO's other fields. Rejects with the hub's ERROR when refused.
   */
  static async open(
    hub: Kalandrad,
    userId: string,
    o: { key?: DeviceKey; hello?: Partial<PayloadOf<typeof Opcode.HELLO>> } = {},
  ): Promise<RawSession> {
    const s = await RawSession.connect(hub, o.key);
    await s.authenticate(userId, o.hello);
    return s;
  }

  get closed(): { code: number; reason: string } | undefined {
    return this.closedWith;
  }

  /** Resolves when the hub closed the socket (or rejects after `ms`). */
  waitClosed(ms = 5000): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closedPromise, ms, "the hub did not close the session");
  }

  async authenticate(
    userId: string,
    hello: Partial<PayloadOf<typeof Opcode.HELLO>> = {},
  ): Promise<Frame> {
    const challenge = await this.request({
      opcode: Opcode.HELLO,
      payload: encodePayload(Opcode.HELLO, {
        device_key: this.key.publicKey,
        user_id: userId,
        client: "security-suite",
        ...hello,
      }),
    });
    expectOpcode(challenge, Opcode.AUTH_CHALLENGE);
    const { nonce } = decodePayload(Opcode.AUTH_CHALLENGE, challenge.payload);
    const ok = await this.request({
      opcode: Opcode.AUTH_RESPONSE,
      payload: encodePayload(Opcode.AUTH_RESPONSE, { nonce }),
    });
    expectOpcode(ok, Opcode.AUTH_OK);
    return ok;
  }

  /** Sends one frame; returns its request_id. */
  send(r: RawRequest): number {
    const requestId = this.nextRequestId++;
    const signer = r.signer ?? this.key;
    const bytes = encodeFrame(
      {
        opcode: r.opcode,
        requestId,
        roomId: r.roomId ?? 0n,
        senderId: r.senderId ?? signer.senderId,
        epoch: r.epoch ?? 0n,
        flags: r.flags ?? 0,
        payload: r.payload,
      },
      signer.signer,
    );
    this.ws.send(bytes);
    return requestId;
  }

  /** Sends one frame and resolves with the hub's response (RESPONSE or ERROR flag) to it. */
  request(r: RawRequest, ms = 10_000): Promise<Frame> {
    const id = this.send(r);
    return this.next(
      (f) => f.header.requestId === id && (f.header.flags & (Flag.RESPONSE | Flag.ERROR)) !== 0,
      ms,
    );
  }

  /** The next frame (already received or still to come) that matches. */
  next(match: (f: Frame) => boolean, ms = 10_000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen !== undefined) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    const p = new Promise<Frame>((resolve) => this.waiters.push({ match, resolve }));
    return withTimeout(p, ms, "no matching frame from the hub");
  }

  close(): void {
    this.ws.close();
  }
}

/** The error name of an ERROR frame, or undefined for anything else. */
export function errorName(f: Frame): string | undefined {
  if ((f.header.flags & Flag.ERROR) === 0) return undefined;
  return decodeErrorPayload(f.payload).name;
}

export function expectOpcode(f: Frame, opcode: number): void {
  if (f.header.opcode !== opcode || (f.header.flags & Flag.ERROR) !== 0) {
    const detail = errorName(f) ?? `opcode 0x${f.header.opcode.toString(16)}`;
    throw new Error(`expected 0x${opcode.toString(16)}, got ${detail}`);
  }
}

/** A PING round trip: the session (a bystander) is still served. */
export async function pingOk(s: RawSession): Promise<void> {
  const pong = await s.request({
    opcode: Opcode.PING,
    payload: encodePayload(Opcode.PING, { nonce: 42 }),
  });
  expectOpcode(pong, Opcode.PONG);
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
