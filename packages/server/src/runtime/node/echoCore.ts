/**
 * A stand-in hub core that sends every accepted frame back to its session. It lets the
 * transport, the auth handshake and the limits be exercised (tests, `--core echo`, the
 * transport part of the e2e bench) without the sequencer.
 */
import type { FrameHandler } from "./session.js";

export class EchoCore implements FrameHandler {
  constructor(private readonly sink: (sessionId: string, frame: Uint8Array) => void) {}
  attachSession(): void {}
  detachSession(): void {}
  handleFrame(sessionId: string, _senderId: bigint, bytes: Uint8Array): void {
    this.sink(sessionId, bytes);
  }
}
