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
 * session as idle exactly as without fronts. So an idle session costs the primary nothing
 * between its client's own PINGs: no timer, no signed hub PING, no IPC.
 *
 * The front exits when the primary goes away (IPC disconnect).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import type { Config } from "../../config/schema.js";
import { corker } from "./websocket/corker.js";
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
}

const now = () => performance.now();

export class Front {
  private readonly conns = new Map<number, Conn>();
  private nextId = 1;
  private readonly outbox: Outbox;
  private readonly http: Server | HttpsServer;
  private readonly wss: WebSocketServer;
  private sweep: ReturnType<typeof setInterval> | undefined;

  private constructor(
    private settings: FrontSettings,
    send: (ops: Op[]) => void,
    web: RequestHandler | undefined,
  ) {
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
    this.startSweep();
  }

  static async create(settings: FrontSettings, send: (ops: Op[]) => void): Promise<Front> {
    // Loaded only when serving the web app: a front loads little else (its memory counts).
    const web =
      settings.webApp === undefined
        ? undefined
        : await (await import("./webApp.js")).webAppHandler(
            settings.webApp.config as Config,
            settings.webApp.hubPublicKey,
          );
    return new Front(settings, send, web);
  }

  get size(): number {
    return this.conns.size;
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
    this.startSweep();
  }

  /** One batch from the primary, in order. */
  apply(batch: ToFront): void {
    const { ops, frames } = batch;
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
          conn.alive = { heard: now(), pinged: undefined };
        }
        i += 2;
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
    this.sweep = setInterval(() => this.keepalive(now()), ms);
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
    const conn: Conn = { ws, cork: corker(ws), closing: false, alive: undefined };
    this.conns.set(id, conn);
    ws.on("error", () => undefined); // the close event follows
    capMessages(ws, this.settings.preAuthCap);
    this.outbox.push(F.OPEN, id, peer);
    // Anything from the client is life; ws answers its pings with pongs by itself.
    const heard = () => {
      if (conn.alive !== undefined) conn.alive.heard = now();
    };
    ws.on("pong", heard);
    ws.on("ping", heard);
    ws.on("message", (data, isBinary) => {
      heard();
      if (conn.closing) return;
      if (isBinary) this.outbox.push(F.MESSAGE, id, messageBytes(data));
      else this.outbox.push(F.TEXT, id);
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
    else if (m.t === "stop") void front.stop(m.graceMs).finally(() => process.exit(0));
  };
  process.on("message", onMessage);
  // The primary gone: its sessions are gone with it.
  process.on("disconnect", () => process.exit(0));
}

if (process.send !== undefined && process.env.KALANDRA_WS_FRONT === "1") main();
