/**
 * The client's connection over WebTransport: one session to kalandrad and one long-lived
 * bidirectional stream carrying whole frames (DESIGN §3). Handshake, queueing and
 * reconnection are the transport-independent part (reconnecting.ts); the session comes from
 * the platform (`#platform/webTransport`: the global WebTransport in browsers, the
 * @fails-components library with its flow-control options in Node).
 */
import { Frame, isEphemeral, StreamDecoder } from "@kalandra/proto";
import { openSession } from "#platform/webTransport";
import { TransportError } from "./errors.js";
import {
  type ConnectionState,
  connectReconnecting,
  type FrameChannel,
  HANDSHAKE_REQUEST_ID_BASE,
  type ReconnectingConnection,
  type ReconnectOptions,
} from "./reconnecting.js";

export { type ConnectionState, HANDSHAKE_REQUEST_ID_BASE, TransportError };

export interface ConnectWebTransportOptions extends ReconnectOptions {
  /** e.g. `https://127.0.0.1:4433/kalandra`. */
  url: string;
  /** SHA-256 of the hub's certificate (development certificates, WebTransport hash pinning). */
  certHash?: Uint8Array;
}

/** A `HubConnection` that survives disconnects. */
export type WebTransportConnection = ReconnectingConnection;

/** One WebTransport session and its one bidirectional stream. */
async function openWebTransportChannel(
  url: string,
  certHash: Uint8Array | undefined,
  maxPayload: number,
): Promise<FrameChannel> {
  const wt = await openSession(url, certHash);
  if (wt === undefined) {
    throw new TransportError("CLOSED", "this runtime has no WebTransport: use connectWebSocket");
  }
  try {
    await wt.ready;
    const stream = await wt.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    return {
      write: (frame) => writer.write(frame),
      start(onFrame, onEnd) {
        const decoder = new StreamDecoder({ maxPayload });
        const reader = stream.readable.getReader();
        void (async () => {
          try {
            for (;;) {
              const r = await reader.read();
              if (r.done) break;
              for (const f of decoder.push(r.value)) onFrame(f);
            }
          } catch {
            // reset or undecodable bytes from the hub: treat as a lost session
          }
          onEnd();
        })();
        if (wt.datagrams) void readDatagrams(wt.datagrams.readable, maxPayload, onFrame);
        wt.closed.then(onEnd, onEnd);
      },
      close() {
        writer
          .close()
          .catch(() => undefined)
          .finally(() => {
            try {
              wt.close({ closeCode: 0, reason: "client closed" });
            } catch {
              // already closed
            }
          });
      },
    };
  } catch (e) {
    try {
      wt.close();
    } catch {
      // not open
    }
    throw e;
  }
}

/**
 * Datagrams: one whole frame each, PRESENCE and TYPING the hub relays (DESIGN §3). One
 * that is not a frame is dropped: a datagram may be lost anyway, so it ends nothing.
 */
async function readDatagrams(
  readable: ReadableStream<Uint8Array>,
  maxPayload: number,
  onFrame: (f: Frame) => void,
): Promise<void> {
  const reader = readable.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      let frame: Frame;
      try {
        frame = Frame.fromWire(r.value, { maxPayload });
      } catch {
        continue;
      }
      if (isEphemeral(frame.header.opcode)) onFrame(frame);
    }
  } catch {
    // the session ended; the stream's reader reports that
  }
}

/**
 * Opens a session to kalandrad and authenticates the device; resolves once the hub
 * answered AUTH_OK (rejects with TransportError if the first attempt fails). Later
 * disconnects are healed in the background.
 *
 * @example
 * const conn = await connectWebTransport({ url: "https://127.0.0.1:4433/kalandra",
 *   certHash, deviceSigner: key.signer, userId: "alice", hubPublicKey });
 * // the same connection object heals itself: re-authenticate the core and resume rooms
 * conn.onReconnect(() => void client.connect());
 */
export function connectWebTransport(
  o: ConnectWebTransportOptions,
): Promise<WebTransportConnection> {
  return connectReconnecting({ ...o, defaultClient: "kalandra-client/webtransport" }, (max) =>
    openWebTransportChannel(o.url, o.certHash, max),
  );
}
