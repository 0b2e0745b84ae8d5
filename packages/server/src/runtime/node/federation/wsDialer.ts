/**
 * Dialing a peer hub: a WebSocket (ws 8.23, the transport stack clients use; the peer
 * accepts on its ordinary WebSocket listener, wsTransport.ts) carrying one frame per binary
 * message. Until the link is up the socket reassembles at most a handshake-sized message;
 * then up to `max_payload_bytes`. The link's keepalive is not the socket's: both ends PING
 * on the link itself (linkKeepalive.ts), whatever transport carries it.
 *
 * `wss://` peers are checked against the system's CAs (NODE_EXTRA_CA_CERTS for a private
 * one); the link's authentication is the pinned hub key either way (federation/link/).
 */
import { Frame, HEADER_SIZE, ProtocolError } from "@kalandra/proto";
import { WebSocket } from "ws";
import { PRE_AUTH_MAX_PAYLOAD } from "../../../session/handshake.js";
import { capMessages, MESSAGE_MARGIN, messageBytes } from "../websocket/messages.js";
import type { LinkIo } from "./linkIo.js";

export interface DialHandlers {
  open(): void;
  frame(frame: Frame): void;
  /** The connection ended (refused, dropped, closed by either side); called once. */
  closed(reason: string): void;
}

export interface Dialer {
  dial(url: string, handlers: DialHandlers): LinkIo;
}

export interface WsDialerOptions {
  maxPayloadBytes: number;
}

const CLOSE_GRACE_MS = 2000;

export function wsDialer(o: WsDialerOptions): Dialer {
  return {
    dial(url, h) {
      let ended = false;
      const finish = (reason: string) => {
        if (ended) return;
        ended = true;
        h.closed(reason);
      };
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: HEADER_SIZE + PRE_AUTH_MAX_PAYLOAD + MESSAGE_MARGIN,
        handshakeTimeout: 10_000,
      });
      const close = (reason: string) => {
        try {
          ws.close(1000, reason.slice(0, 120));
        } catch {
          // not open yet, or already closing
        }
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        finish(reason);
      };
      ws.on("error", () => undefined); // the close event follows
      ws.on("open", () => h.open());
      ws.on("message", (data, isBinary) => {
        if (ended) return;
        if (!isBinary) {
          close("wire error: text message");
          return;
        }
        let frame: Frame;
        try {
          frame = Frame.fromWire(messageBytes(data), { maxPayload: o.maxPayloadBytes });
        } catch (e) {
          close(`wire error ${e instanceof ProtocolError ? e.code : "INTERNAL"}`);
          return;
        }
        h.frame(frame);
      });
      ws.on("close", (code, reason) => finish(`closed ${code} ${reason.toString()}`.trim()));
      return {
        send: (frame) => {
          if (!ended && ws.readyState === WebSocket.OPEN) ws.send(frame);
        },
        close,
        up: () => capMessages(ws, HEADER_SIZE + o.maxPayloadBytes + MESSAGE_MARGIN),
      };
    },
  };
}
