/**
 * What both ends of kalandrad's WebSocket connections share (the listener, wsTransport.ts;
 * the hub-link dialer, federation/wsDialer.ts): one binary message carries one frame, ws's
 * reassembly cap per socket, and the margin beyond a frame it still buffers.
 */
import type { WebSocket } from "ws";

/** Bytes beyond the largest frame that ws still buffers, so our decoder can answer with a typed ERROR. */
export const MESSAGE_MARGIN = 64 * 1024;

/**
 * Sets the largest message ws reassembles on this connection. ws 8 has no public per-socket
 * limit; its receiver checks `_maxPayload` against each frame header's length before it
 * buffers the payload, and a message over it closes the connection with 1009. Pinned to
 * ws 8.23.1 (a test in wsTransport.test.ts fails if the field goes away).
 */
export function capMessages(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver === undefined || typeof receiver._maxPayload !== "number") {
    throw new Error("ws receiver has no _maxPayload: check the ws version (wsTransport.ts)");
  }
  receiver._maxPayload = bytes;
}

/** ws hands a Buffer (its default binaryType); fragments arrive joined. */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

/** WebSocket close code for a refused connection (RFC 6455 §7.4.1: try again later). */
export const CLOSE_TRY_AGAIN = 1013;
/** Time a peer gets to answer our close frame before the socket is cut. */
export const CLOSE_GRACE_MS = 2000;

/** The close code for a session ended for `reason`: policy for bad input, normal otherwise. */
export function closeCodeFor(reason: string): number {
  return reason.startsWith("wire error") || reason.startsWith("too many") ? 1008 : 1000;
}
