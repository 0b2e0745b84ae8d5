/**
 * A WebSocket front process (`server.websocket_fronts`, wsFronts.ts): holds the sockets of
 * the WebSocket sessions for the hub's primary process, which accepts each connection and
 * passes its socket here. The front speaks TLS and the WebSocket protocol and moves whole
 * messages between its sockets and the primary (batched, frontProtocol.ts); every session
 * (handshake, admission, keep-alive, caps, strikes, metrics) lives in the primary.
 *
 * What the front does alone, because it is transport and needs no session state: the
 * WebSocket framing, TLS, ws's per-socket message cap (small until the primary reports
 * AUTH_OK, frontProtocol `AUTH`), the close handshake with its grace period, noticing a
 * client that reads too slowly (it reports it; the primary closes the session), and the
 * authenticated sessions' keep-alive (websocket/transportKeepalive.ts): a WebSocket ping
 * frame after `keepalive_interval_ms` of silence, answered by the client's WebSocket on its
 * own, and after `idle_timeout_ms` of silence a report to the primary, which closes the
 * session as idle exactly as without fronts; and the client's own PINGs, answered here with
 * the hub's PONG while the primary's heartbeat comes (websocket/frontPings.ts). So an idle
 * session costs the primary nothing: no timer, no signed hub PING, no IPC, no PONG.
 *
 * The front exits when the primary goes away (IPC disconnect).
 */

import { createPrivateKey } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { DeviceSigner } from "@kalandra/proto";
import { ed25519KeySigner } from "@kalandra/proto/node";
import { type WebSocket, WebSocketServer } from "ws";
import type { Config } from "../../config/schema.js";
import { corker } from "./websocket/corker.js";
import { frontPong, type PingDevice } from "./websocket/frontPings.js";
import {
  F,
  type FrontControl,
  type FrontSettings,
  type Op,
  Outbox,
  P,
  type ToFront,
} from "./websocket/frontProtocol.js";
import { CLOSE_GRACE_MS, capMessages, messageBytes } from "./websocket/messages.js";
import { keepaliveVerdict, sweepMs, type Watched } from "./websocket/transportKeepalive.js";

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

interface Conn {
  ws: WebSocket;
  cork: () => void;
  closing: boolean;
  /** From AUTH on, the client's liveness (before it the primary's auth timeout applies). */
  alive: Watched | undefined;
  /** From AUTH on, the device whose PINGs this front may answer (not a peer hub's link). */
  device: PingDevice | undefined;
}

/** How often a front reports the PINGs it answered (F.PONGED). */
const PONG_REPORT_MS = 1000;
/** The front's monotonic clock (ms); tests pass their own to `Front.create`. */
const monotonic = () => performance.now();

export class Front {
  private readonly conns = new Map<number, Conn>();
  private nextId = 1;
  private readonly outbox: Outbox;
  private readonly http: Server | HttpsServer;
  private readonly wss: WebSocketServer;
  private sweep: ReturnType<typeof setInterval> | undefined;
  /** Signs the PONGs answered here (`settings.pongKey`); undefined: PINGs go to the primary. */
  private pongSigner: DeviceSigner | undefined;
  /** When the primary was last heard from (a batch, settings or its heartbeat). */
  private primaryAt: number;
  private pongs = 0;
  /** PONGs not yet reported to the primary (F.PONGED, once a second). */
  private unreportedPongs = 0;

  private constructor(
    private settings: FrontSettings,
    send: (ops: Op[]) => void,
    web: RequestHandler | undefined,
    private readonly now: () => number,
  ) {
    this.primaryAt = now();
    this.outbox = new Outbox(({ ops }) => send(ops));
    this.http = settings.tls ? createHttpsServer(settings.tls) : createHttpServer();
    this.http.on(
      "request",
      web ??
        ((_req, res) => {
          res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
          res.end(`kalandrad: open a WebSocket on ${settings.path}\n`);
        }),
    );
    this.wss = new WebSocketServer({
      server: this.http,
      path: settings.path,
      maxPayload: settings.cap,
      perMessageDeflate: false,
    });
    this.wss.on("connection", (ws, req) => this.serve(ws, req.socket.remoteAddress ?? ""));
    this.pongSigner = pongSigner(settings);
    this.startSweep();
  }

  static async create(
    settings: FrontSettings,
    send: (ops: Op[]) => void,
    now = monotonic,
  ): Promise<Front> {
    // Loaded only when serving the web app: a front loads little else (its memory counts).
    const web =
      settings.webApp === undefined
        ? undefined
        : await (await import("./webApp.js")).webAppHandler(
            settings.webApp.config as Config,
            settings.webApp.hubPublicKey,
          );
    return new Front(settings, send, web, now);
  }

  get size(): number {
    return this.conns.size;
  }

  /** Client PINGs this front answered itself. */
  get pingsAnswered(): number {
    return this.pongs;
  }

  /** The primary's heartbeat. */
  alive(): void {
    this.primaryAt = this.now();
  }

  /** A socket the primary accepted: TLS (when configured) and the HTTP upgrade happen here. */
  adopt(socket: Socket): void {
    this.http.emit("connection", socket);
  }

  update(settings: FrontSettings): void {
    if (settings.tls && this.settings.tls) {
      (this.http as HttpsServer).setSecureContext(settings.tls);
    }
    this.settings = settings;
    this.pongSigner = pongSigner(settings);
    this.primaryAt = this.now();
    this.startSweep();
  }

  /** One batch from the primary, in order. */
  apply(batch: ToFront): void {
    const { ops, frames } = batch;
    this.primaryAt = this.now();
    for (let i = 0; i < ops.length; ) {
      const op = ops[i] as number;
      const conn = this.conns.get(ops[i + 1] as number);
      if (op === P.SEND) {
        if (conn && !conn.closing)
          this.write(ops[i + 1] as number, conn, frames[ops[i + 2] as number]);
        i += 3;
      } else if (op === P.AUTH) {
        if (conn) {
          capMessages(conn.ws, this.settings.cap);
          conn.alive = { heard: this.now(), pinged: undefined };
          const publicKey = ops[i + 2] as Uint8Array;
          if (publicKey.length === 32) {
            conn.device = { publicKey, senderId: ops[i + 3] as bigint, answeredAt: -Infinity };
          }
        }
        i += 4;
      } else if (op === P.CLOSE) {
        if (conn) this.closeConn(conn, ops[i + 2] as number, ops[i + 3] as string);
        i += 4;
      } else {
        throw new Error(`front: unknown operation ${op}`);
      }
    }
  }

  /** Closes every socket (after queued writes, at most `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
    const until = Date.now() + graceMs;
    for (const c of this.conns.values()) this.closeConn(c, 1001, "hub shutting down");
    while (this.conns.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.conns.values()) c.ws.terminate();
    this.outbox.flush();
  }

  /** One sweep timer for every connection, at the pace the keep-alive settings need. */
  private startSweep(): void {
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.sweep = undefined;
    const ms = sweepMs(this.settings.keepalive);
    if (ms === undefined) return;
    this.sweep = setInterval(() => this.keepalive(this.now()), ms);
    this.sweep.unref();
  }

  /**
   * Pings the authenticated connections silent for the keep-alive interval and reports
   * those silent for the idle timeout (once: the primary closes the session).
   */
  keepalive(at: number): void {
    for (const [id, conn] of this.conns) {
      const alive = conn.alive;
      if (alive === undefined || conn.closing) continue;
      const verdict = keepaliveVerdict(alive, at, this.settings.keepalive);
      if (verdict === "ping") {
        alive.pinged = at;
        try {
          conn.ws.ping();
        } catch {
          // the socket is closing: its close event follows
        }
      } else if (verdict === "dead") {
        conn.alive = undefined;
        this.outbox.push(F.SILENT, id, Math.round(at - alive.heard));
      }
    }
  }

  private write(id: number, conn: Conn, frame: Uint8Array | undefined): void {
    if (frame === undefined) return;
    conn.cork();
    conn.ws.send(frame);
    if (conn.ws.bufferedAmount > this.settings.maxQueuedBytes) {
      this.outbox.push(F.SLOW, id, conn.ws.bufferedAmount);
      conn.closing = true; // nothing more is written; the primary closes the session
    }
  }

  /** Answers a client PING here when frontPings.ts allows it; false = the primary's. */
  private answerPing(id: number, conn: Conn, bytes: Uint8Array): boolean {
    const signer = this.pongSigner;
    if (conn.device === undefined || signer === undefined) return false;
    const t = this.now();
    if (t - this.primaryAt >= this.settings.vouchMs) return false;
    const pong = frontPong(bytes, conn.device, signer, t);
    if (pong === undefined) return false;
    this.pongs++;
    this.countPong();
    this.write(id, conn, pong);
    return true;
  }

  private countPong(): void {
    if (this.unreportedPongs++ > 0) return;
    setTimeout(() => {
      this.outbox.push(F.PONGED, this.unreportedPongs);
      this.unreportedPongs = 0;
    }, PONG_REPORT_MS).unref();
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    conn.closing = true;
    try {
      conn.ws.close(code, reason.slice(0, 120));
    } catch {
      // already closing
    }
    setTimeout(() => conn.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private serve(ws: WebSocket, peer: string): void {
    const id = this.nextId++;
    const conn: Conn = {
      ws,
      cork: corker(ws),
      closing: false,
      alive: undefined,
      device: undefined,
    };
    this.conns.set(id, conn);
    ws.on("error", () => undefined); // the close event follows
    capMessages(ws, this.settings.preAuthCap);
    this.outbox.push(F.OPEN, id, peer);
    // Anything from the client is life; ws answers its pings with pongs by itself.
    const heard = () => {
      if (conn.alive !== undefined) conn.alive.heard = this.now();
    };
    ws.on("pong", heard);
    ws.on("ping", heard);
    ws.on("message", (data, isBinary) => {
      heard();
      if (conn.closing) return;
      if (!isBinary) {
        this.outbox.push(F.TEXT, id);
        return;
      }
      const bytes = messageBytes(data);
      if (!this.answerPing(id, conn, bytes)) this.outbox.push(F.MESSAGE, id, bytes);
    });
    ws.on("close", () => {
      this.conns.delete(id);
      this.outbox.push(F.CLOSED, id);
    });
  }
}

/** The front process's main: settings first, then connections and batches. */
function main(): void {
  const send = (m: unknown) => process.send?.(m);
  let front: Front | undefined;
  const early: { m: FrontControl | ToFront; handle?: Socket }[] = [];
  const onMessage = (m: FrontControl | ToFront, handle?: Socket) => {
    if (m.t === "settings") {
      if (front) front.update(m.settings);
      else {
        void Front.create(m.settings, (ops) => send({ t: "batch", ops })).then((f) => {
          front = f;
          for (const e of early.splice(0)) onMessage(e.m, e.handle);
          send({ t: "ready" });
        });
      }
      return;
    }
    if (front === undefined) {
      early.push({ m, ...(handle ? { handle } : {}) });
      return;
    }
    if (m.t === "conn") {
      if (handle) front.adopt(handle);
    } else if (m.t === "batch") front.apply(m);
    else if (m.t === "alive") front.alive();
    else if (m.t === "stop") void front.stop(m.graceMs).finally(() => process.exit(0));
  };
  process.on("message", onMessage);
  // The primary gone: its sessions are gone with it.
  process.on("disconnect", () => process.exit(0));
}

if (process.send !== undefined && process.env.KALANDRA_WS_FRONT === "1") main();

function pongSigner(settings: FrontSettings): DeviceSigner | undefined {
  const der = settings.pongKey;
  if (der === undefined) return undefined;
  return ed25519KeySigner(
    createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }),
  );
}
