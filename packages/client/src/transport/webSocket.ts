/**
 * The client's connection over WebSocket (docs/protocol.md "Transports"): one binary
 * message per frame both ways; PRESENCE and TYPING are ordinary messages (no datagrams).
 * Handshake, queueing and reconnection are those of WebTransport (reconnecting.ts).
 *
 * The socket is the global `WebSocket` where there is one (browsers, Node 22+), else the
 * `ws` package (Node 20 has no global WebSocket without a flag), loaded by a dynamic import
 * only then, so a browser bundle need not include it.
 */
import { Frame } from "@kalandra/proto";
import { TransportError } from "./errors.js";
import {
  connectReconnecting,
  type FrameChannel,
  type ReconnectingConnection,
  type ReconnectOptions,
} from "./reconnecting.js";

export interface ConnectWebSocketOptions extends ReconnectOptions {
  /** e.g. `ws://127.0.0.1:4480/kalandra` (`wss://` when the hub has a configured certificate). */
  url: string;
}

export type WebSocketConnection = ReconnectingConnection;

/** The part of the WHATWG WebSocket API used here (the global one and `ws` both have it). */
interface Socket {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
type SocketClass = new (url: string) => Socket;

const OPEN = 1;

let socketClass: Promise<SocketClass> | undefined;
function loadSocketClass(): Promise<SocketClass> {
  const global = (globalThis as { WebSocket?: SocketClass }).WebSocket;
  if (global !== undefined) return Promise.resolve(global);
  socketClass ??= import("ws").then((m) => m.WebSocket as unknown as SocketClass);
  return socketClass;
}

/** Opens one WebSocket; resolves once it is open. */
async function openWebSocketChannel(url: string, maxPayload: number): Promise<FrameChannel> {
  const Ws = await loadSocketClass();
  const ws = new Ws(url);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new TransportError("CLOSED", `cannot open a WebSocket to ${url}`));
    ws.onclose = () => reject(new TransportError("CLOSED", `WebSocket to ${url} closed`));
  });
  return {
    write(frame) {
      if (ws.readyState !== OPEN) return Promise.reject(new TransportError("CLOSED", "closed"));
      ws.send(frame);
      return Promise.resolve();
    },
    start(onFrame, onEnd) {
      ws.onmessage = (ev) => {
        try {
          if (!(ev.data instanceof ArrayBuffer)) throw new Error("not a binary message");
          onFrame(Frame.fromWire(new Uint8Array(ev.data), { maxPayload }));
        } catch {
          // the hub sent something that is not one frame: drop this socket, reconnect
          ws.close(1002, "bad frame");
          onEnd();
        }
      };
      ws.onclose = () => onEnd();
      ws.onerror = () => onEnd();
    },
    close() {
      try {
        ws.close(1000, "client closed");
      } catch {
        // already closed
      }
    },
  };
}

/**
 * Opens a WebSocket to kalandrad and authenticates the device, with the same reconnection
 * and resume behaviour as `connectWebTransport`.
 *
 * @example
 * const conn = await connectWebSocket({ url: "ws://127.0.0.1:4480/kalandra",
 *   deviceSigner: key.signer, userId: "alice", hubPublicKey });
 * conn.onReconnect(() => void client.connect());
 */
export function connectWebSocket(o: ConnectWebSocketOptions): Promise<WebSocketConnection> {
  return connectReconnecting({ ...o, defaultClient: "kalandra-client/websocket" }, (max) =>
    openWebSocketChannel(o.url, max),
  );
}
