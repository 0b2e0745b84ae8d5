/**
 * The primary's side of one session whose socket a WebSocket front holds (wsFronts.ts):
 * what the session does to its socket becomes operations for that front
 * (frontProtocol.ts).
 */
import type { ListenerDeps } from "./connectionGate.js";
import { closeSession } from "./connectionGate.js";
import type { Session, SessionIo } from "./session.js";
import { P } from "./websocket/frontProtocol.js";
import { closeCodeFor } from "./websocket/messages.js";
import type { FrontSlot } from "./wsFronts.js";

/** AUTH's device for a session without one (a peer hub's link): the front answers no PINGs. */
const NO_DEVICE = new Uint8Array(0);

/**
 * A session's socket as the primary sees it: one small object per session and no
 * closures (issue 15: 100,000 of them are what the primary's garbage collector marks).
 */
export class FrontSessionIo implements SessionIo {
  readonly keepsAlive = true;
  readonly id: string;
  session: Session | undefined;
  private ended = false;

  constructor(
    private readonly o: ListenerDeps,
    private readonly slot: Pick<FrontSlot, "index" | "outbox" | "sessions">,
    private readonly conn: number,
  ) {
    this.id = `wf${slot.index}-${conn}`;
  }

  authenticated(device?: { publicKey: Uint8Array; senderId: bigint }): void {
    const key = device?.publicKey ?? NO_DEVICE;
    this.slot.outbox.push(P.AUTH, this.conn, key, device?.senderId ?? 0n);
  }

  send(frame: Uint8Array): void {
    const out = this.slot.outbox;
    if (!this.ended) out.push(P.SEND, this.conn, out.frame(frame));
  }

  close(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const { slot, conn } = this;
    if (slot.sessions.get(conn) === this.session) slot.sessions.delete(conn);
    closeSession(this.o, this.id, reason);
    slot.outbox.push(P.CLOSE, conn, closeCodeFor(reason), reason);
  }
}
