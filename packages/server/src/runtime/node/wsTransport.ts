/**
 * The WebSocket listener (ws 8.23), beside the WebTransport one (transport.ts): for
 * browsers, which reach WebTransport only over HTTP/3 (PROBES.md). Each connection opens
 * the same `Session` and registers it with the same HubHost, so handshake, admission,
 * strikes, limits and metrics are those of WebTransport (docs/protocol.md "Transports").
 *
 * One binary message carries exactly one frame (`Session.onMessage`); a text message, a
 * truncated frame, two frames or trailing bytes get their typed ERROR and end the session.
 * There are no datagrams: PRESENCE and TYPING travel as ordinary binary messages, their
 * opcode marks them ephemeral. ws's own message cap is the frame limit plus a margin (before
 * AUTH_OK the pre-auth frame limit plus the margin), so a frame declaring too large a
 * payload still gets PAYLOAD_TOO_LARGE; a message beyond the margin is cut off by ws with
 * close code 1009 before it is buffered.
 *
 * TLS (wss) when `tls` is given; plain ws otherwise (config/load.ts refuses plaintext on a
 * non-loopback address unless `server.websocket_plaintext`).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { HEADER_SIZE, ProtocolError } from "@kalandra/proto";
import { type WebSocket, WebSocketServer } from "ws";
import { PRE_AUTH_MAX_PAYLOAD } from "../../session/handshake.js";
import { closeSession, openSession, peerHost, refuseConnection } from "./connectionGate.js";
import type { Session } from "./session.js";
import {
  MAX_QUEUED_BYTES,
  type RuntimeLimits,
  type TransportOptions,
  WT_PATH,
} from "./transport.js";
import { corker } from "./websocket/corker.js";
import {
  CLOSE_GRACE_MS,
  CLOSE_TRY_AGAIN,
  capMessages,
  closeCodeFor,
  MESSAGE_MARGIN,
  messageBytes,
} from "./websocket/messages.js";

/** The path clients open WebSockets on (the same as WebTransport's). */
export const WS_PATH = WT_PATH;

export interface WebSocketListenerOptions extends Omit<TransportOptions, "cert" | "key"> {
  /** PEM certificate chain and key: wss. Absent: plain ws. */
  tls?: { cert: string; key: string };
  /** Answers plain HTTP requests (the web app, webApp.ts); absent: 426 Upgrade Required. */
  http?: (req: IncomingMessage, res: ServerResponse) => void;
}

export class WebSocketListener {
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sessions = new Map<string, { session: Session; ws: WebSocket }>();
  private accepting = true;
  private nextId = 1;

  constructor(private readonly o: WebSocketListenerOptions) {}

  async start(): Promise<{ port: number; secure: boolean }> {
    const secure = this.o.tls !== undefined;
    const http = this.o.tls ? createHttpsServer(this.o.tls) : createHttpServer();
    http.on(
      "request",
      this.o.http ??
        ((_req, res) => {
          res.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" });
          res.end(`kalandrad: open a WebSocket on ${WS_PATH}\n`);
        }),
    );
    this.http = http;
    this.wss = new WebSocketServer({
      server: http,
      path: WS_PATH,
      maxPayload: this.messageCap,
      perMessageDeflate: false,
    });
    this.wss.on("connection", (ws, req) => this.serve(ws, peerHost(req.socket.remoteAddress)));
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(this.o.port, this.o.host, () => {
        http.off("error", reject);
        resolve();
      });
    });
    const addr = http.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : this.o.port;
    this.o.log?.info({ host: this.o.host, port, secure }, "websocket listening");
    return { port, secure };
  }

  /** The largest message ws reassembles for an authenticated session. */
  private get messageCap(): number {
    return HEADER_SIZE + this.o.limits.maxPayloadBytes + MESSAGE_MARGIN;
  }

  /** Number of open sessions on this listener. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Applies new limits to every open session (SIGHUP); sessions authenticated afterwards
   * get the new message cap.
   */
  reconfigure(limits: RuntimeLimits): void {
    this.o.limits = limits;
    for (const { session } of this.sessions.values()) session.reconfigure(limits);
  }

  /**
   * Serves `cert`/`key` to connections made from now on (SIGHUP, certificates.ts); open
   * ones keep their TLS session. Without TLS (plain ws) there is nothing to swap.
   */
  updateCertificate(cert: string, key: string): void {
    if (this.o.tls === undefined) return;
    this.o.tls = { cert, key };
    (this.http as HttpsServer | undefined)?.setSecureContext({ cert, key });
  }

  stopAccepting(): void {
    this.accepting = false;
  }

  /** Waits until queued writes left (or `timeoutMs` passed), closes every session and the listener. */
  async close(timeoutMs = 5000): Promise<void> {
    this.accepting = false;
    const until = Date.now() + timeoutMs;
    while (
      Date.now() < until &&
      [...this.sessions.values()].some(({ ws }) => ws.bufferedAmount > 0)
    ) {
      await delay(10);
    }
    for (const { session } of [...this.sessions.values()]) session.close("hub shutting down");
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }

  private serve(ws: WebSocket, peer: string | undefined): void {
    ws.on("error", () => undefined); // the close event follows and ends the session
    const refusal = refuseConnection(this.o, this.accepting, peer);
    if (refusal !== undefined) {
      ws.send(refusal, () => ws.close(CLOSE_TRY_AGAIN, "refused"));
      return;
    }
    const id = `w${this.nextId++}`;
    let ended = false;
    const finish = (reason: string) => {
      if (ended) return;
      ended = true;
      this.sessions.delete(id);
      closeSession(this.o, id, reason);
      // The close frame is queued behind the frames already sent (the last ERROR included).
      const code = closeCodeFor(reason);
      try {
        ws.close(code, reason.slice(0, 120));
      } catch {
        // already closing
      }
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    };
    // Until AUTH_OK ws buffers at most a handshake-sized message (issue 12: 15 MiB HELLOs
    // were reassembled before the session could refuse them); the full cap after it.
    capMessages(ws, HEADER_SIZE + PRE_AUTH_MAX_PAYLOAD + MESSAGE_MARGIN);
    const cork = corker(ws);
    const session: Session = openSession(
      this.o,
      id,
      {
        authenticated: () => capMessages(ws, this.messageCap),
        send: (frame) => {
          if (ended) return;
          cork();
          ws.send(frame);
          if (ws.bufferedAmount > MAX_QUEUED_BYTES) {
            this.o.log?.warn(
              { session: id, queued: ws.bufferedAmount },
              "client too slow; closing",
            );
            session.close("client too slow");
          }
        },
        close: (reason) => finish(reason),
      },
      peer,
    );
    this.sessions.set(id, { session, ws });
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        session.onWireError(
          new ProtocolError("BAD_PAYLOAD", "text message: frames travel as binary messages"),
        );
        return;
      }
      session.onMessage(messageBytes(data));
    });
    ws.on("close", () => session.close("transport closed"));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
