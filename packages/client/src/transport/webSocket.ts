/**
 * The client's connection over WebSocket (docs/protocol.md "Transports"): one binary
 * message per frame both ways; PRESENCE and TYPING are ordinary messages (no datagrams).
 * Handshake, queueing and reconnection are those of WebTransport (reconnecting.ts).
 *
 * The socket class is the platform's (`#platform/webSocket`): the global `WebSocket` in
 * browsers; in Node the global one (Node 22+) or else the `ws` package, which a browser
 * bundle never reaches.
 */
import { Frame } from "@kalandra/proto";
import { loadSocketClass } from "#platform/webSocket";
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

const OPEN = 1;

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
