/**
 * Idempotency of in-band moderation (KICK, BAN, REDACT; DESIGN §4): a repeated
 * (sender_id, request_id) gets the first answer and is not carried out twice. A client
 * resends a request whose answer is slow with the same request id (client/state/requests.ts);
 * carried out again, a REDACT found its entry erased already (NOT_FOUND) and a KICK its
 * member gone, so the client saw its own success as a refusal.
 *
 * These requests are no sequenced frames with a stored response (sequencer/idempotency.ts),
 * so their answers are kept here, in memory: a request in flight (a repeat waits for the
 * same answer) and the last `capacity` accepted ones. A refusal is not kept: after
 * TRANSFERRING or PEER_UNREACHABLE the client's retry must be tried again. A restart
 * forgets them: a retry after it is carried out again.
 *
 * The key is authenticated: sender_id derives from the device key the session proved, and a
 * peer forwards only its own users' requests, signed by their device (peerRequests.ts).
 */

/** One answer, and whether it is kept for repeats (accepted: yes; refused: no). */
export interface ModerationAnswer {
  bytes: Uint8Array;
  accepted: boolean;
}

const key = (senderId: bigint, requestId: number): string => `${senderId}:${requestId}`;

export class ModerationAnswers {
  readonly #inflight = new Map<string, Promise<ModerationAnswer>>();
  /** Accepted answers, oldest first (Map keeps insertion order). */
  readonly #kept = new Map<string, Uint8Array>();

  constructor(private readonly capacity = 4096) {}

  /**
   * The answer to (senderId, requestId): the first one's when it was accepted or is still
   * in flight, else `run`'s (then kept when accepted).
   */
  async once(
    senderId: bigint,
    requestId: number,
    run: () => Promise<ModerationAnswer>,
  ): Promise<Uint8Array> {
    const k = key(senderId, requestId);
    const kept = this.#kept.get(k);
    if (kept !== undefined) return kept;
    const running = this.#inflight.get(k);
    if (running !== undefined) return (await running).bytes;
    const p = run();
    this.#inflight.set(k, p);
    try {
      const a = await p;
      if (a.accepted) this.#keep(k, a.bytes);
      return a.bytes;
    } finally {
      this.#inflight.delete(k);
    }
  }

  #keep(k: string, bytes: Uint8Array): void {
    this.#kept.set(k, bytes);
    if (this.#kept.size <= this.capacity) return;
    const oldest = this.#kept.keys().next().value;
    if (oldest !== undefined) this.#kept.delete(oldest);
  }
}
