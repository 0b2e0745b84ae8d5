/**
 * Idempotency of sequenced requests (DESIGN §4): a repeated (sender_id, request_id) gets
 * the first answer and is never sequenced twice. Two places hold first answers: requests
 * still in flight (accepted, not yet durable: the repeat waits for the same response) and
 * storage (the response recorded with the frame, so the rule holds across restarts).
 */
import { canary } from "@kalandra/proto";
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
    return this.storage.getResponse(senderId, requestId);
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
