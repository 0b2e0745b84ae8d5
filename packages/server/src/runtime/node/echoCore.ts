/**
 * A stand-in hub core that sends every accepted frame back to its session. It lets the
 * transport, the auth handshake and the limits be exercised (tests, `--core echo`, the
 * transport part of the e2e bench) without the sequencer; the HubHost in front of it is
 * the one kalandrad runs.
 */
import type { Frame } from "@kalandra/proto";
import type { FrameCore } from "../../hub/hubHost.js";
import type { Sink } from "../../vocabulary/target.js";

export class EchoCore implements FrameCore {
  constructor(private readonly sink: Sink) {}
  attachSession(): void {}
  detachSession(): void {}
  handleVerified(sessionId: string, frame: Frame): undefined {
    this.sink({ kind: "session", sessionId }, frame.toWire());
    return undefined;
  }
}
