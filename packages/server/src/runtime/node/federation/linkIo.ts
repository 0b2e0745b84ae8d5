/**
 * Between a connection and the hub link on it: a listener's session hands a connection
 * whose first frame is FED_HELLO to a `LinkAcceptor` (session.ts), the dialer hands its
 * socket over as a `LinkIo` (wsDialer.ts). Types only.
 */
import type { Frame } from "@kalandra/proto";

/** What the federation links give a connection whose first frame was FED_HELLO. */
export interface LinkAcceptor {
  accept(sessionId: string, io: LinkIo): LinkInbound;
}

/** What a hub link may do to the connection under it. */
export interface LinkIo {
  send(frame: Uint8Array): void;
  close(reason: string): void;
  /** The link is up: frames up to `maxPayloadBytes` may now arrive. */
  up(): void;
}

/** The link's side of the connection: frames in, and the end of the connection. */
export interface LinkInbound {
  receive(frame: Frame): void;
  closed(reason: string): void;
}
