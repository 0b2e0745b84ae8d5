/**
 * Idempotency of sequenced requests (DESIGN §4): a repeated (sender_id, request_id) gets
 * the first answer and is never sequenced twice. Two places hold first answers: requests
 * still in flight (accepted, not yet durable: the repeat waits for the same response) and
 * storage (the response recorded with the frame, so the rule holds across restarts).
 */
import { canary, Flag, FrameHeader, HEADER_SIZE, Opcode } from "@kalandra/proto";
import type { Storage } from "../storage/types.js";

const key = (senderId: bigint, requestId: number): string => `${senderId}:${requestId}`;

export class Idempotency {
  private readonly inflight = new Map<string, ((response: Uint8Array) => void)[]>();

  constructor(private readonly storage: Storage) {}

  /**
   * The first answer to this request: bytes when it is stored, a promise of them while it
   * is in flight, undefined when the request is new.
   */
  earlier(senderId: bigint, requestId: number): Uint8Array | Promise<Uint8Array> | undefined {
    if (canary("dedupe_forgets")) return undefined; // simulation-only planted bug (DESIGN §8)
    const waiting = this.inflight.get(key(senderId, requestId));
    if (waiting !== undefined) return new Promise((resolve) => waiting.push(resolve));
    const stored = this.storage.getResponse(senderId, requestId);
    return stored === undefined || this.given(stored, senderId, requestId) ? undefined : stored;
  }

  /**
   * True when the stored ACK names a log position that no longer holds the request: a
   * federated room's log given up after a failover (federation/logMatch.ts) and fetched
   * again, where another frame took that place. The request is then new here.
   */
  private given(response: Uint8Array, senderId: bigint, requestId: number): boolean {
    if (response.length < HEADER_SIZE) return false;
    const h = FrameHeader.view(response);
    if (h.opcode !== Opcode.ACK || (h.flags & Flag.RESPONSE) === 0) return false;
    // The ACK is stored with its frame (one transaction): no frame there, it was dropped.
    const [entry] = this.storage.readRange(h.roomId, h.logIndex, 1);
    if (entry === undefined) return true;
    const at = FrameHeader.view(entry.header);
    return at.senderId !== senderId || at.requestId !== requestId;
  }

  /** Marks a request in flight; call the returned function with its response once durable. */
  begin(senderId: bigint, requestId: number): (response: Uint8Array) => void {
    const k = key(senderId, requestId);
    const waiters: ((response: Uint8Array) => void)[] = [];
    this.inflight.set(k, waiters);
    return (response) => {
      this.inflight.delete(k);
      for (const w of waiters) w(response);
    };
  }
}
