/**
 * Idempotency of in-band moderation (KICK, BAN, REDACT; DESIGN §4): a repeated
 * (sender_id, request_id) gets the first answer and is not carried out twice. A client
 * resends a request whose answer is slow with the same request id (client/state/requests.ts);
 * carried out again, a REDACT found its entry erased already (NOT_FOUND) and a KICK its
 * member gone, so the client saw its own success as a refusal.
 *
 * These requests are no sequenced frames with a stored response (sequencer/idempotency.ts),
 * so their accepted answers have a table of their own in the hub's storage
 * (`ModerationAnswerStorage`, the last `capacity` of them): each is written durably before
 * it leaves the hub, so a retry after a restart gets it too. A request in flight is kept in
 * memory (a repeat waits for the same answer). A refusal is not kept: after TRANSFERRING or
 * PEER_UNREACHABLE the client's retry must be tried again.
 *
 * An accepted answer whose write failed does not leave the hub: the caller answers INTERNAL,
 * as the sequencer does when an append fails (commitPipeline.ts). The request was carried
 * out, so its answer is held here (bounded like the table) and a repeat writes it again
 * instead of carrying the request out a second time.
 *
 * The storage is the hub thread's (HubCore's): with worker shards the main data directory,
 * which moderation's own audit records live in, never a shard's (docs/architecture.md).
 * The key is authenticated: sender_id derives from the device key the session proved, and a
 * peer forwards only its own users' requests, signed by their device (peerRequests.ts). Only
 * accepted requests are stored, so a client can make the hub keep no more than `capacity`
 * answers of at most MODERATION_ANSWER_MAX_BYTES, as it could in memory before.
 */
import type { ModerationAnswerStorage } from "../storage/types.js";

/** One answer, and whether it is kept for repeats (accepted: yes; refused: no). */
export interface ModerationAnswer {
  bytes: Uint8Array;
  accepted: boolean;
}

/** What to send: the answer, or nothing of it because it could not be stored (INTERNAL). */
export type SettledAnswer = { kind: "answer"; bytes: Uint8Array } | { kind: "unsaved" };

/** Accepted answers a hub stores by default (docs/moderation.md). */
export const MODERATION_ANSWERS_KEPT = 4096;

const key = (senderId: bigint, requestId: number): string => `${senderId}:${requestId}`;

export class ModerationAnswers {
  readonly #inflight = new Map<string, Promise<SettledAnswer>>();
  /** Accepted answers whose write failed, oldest first (Map keeps insertion order). */
  readonly #unsaved = new Map<string, Uint8Array>();

  constructor(
    private readonly store: ModerationAnswerStorage,
    private readonly capacity = MODERATION_ANSWERS_KEPT,
  ) {}

  /**
   * The answer to (senderId, requestId): the first one's when it was accepted (stored) or
   * is still in flight, else `run`'s (then stored when accepted, before it is given out).
   */
  async once(
    senderId: bigint,
    requestId: number,
    run: () => Promise<ModerationAnswer>,
  ): Promise<SettledAnswer> {
    const k = key(senderId, requestId);
    const running = this.#inflight.get(k);
    if (running !== undefined) return running;
    const stored = this.store.getModerationAnswer(senderId, requestId);
    if (stored !== undefined) return { kind: "answer", bytes: stored };
    const p = this.#settle(k, senderId, requestId, run);
    this.#inflight.set(k, p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(k);
    }
  }

  async #settle(
    k: string,
    senderId: bigint,
    requestId: number,
    run: () => Promise<ModerationAnswer>,
  ): Promise<SettledAnswer> {
    let bytes = this.#unsaved.get(k);
    if (bytes === undefined) {
      const a = await run();
      if (!a.accepted) return { kind: "answer", bytes: a.bytes };
      bytes = a.bytes;
    }
    try {
      await this.store.putModerationAnswer(senderId, requestId, bytes, this.capacity);
    } catch {
      this.#hold(k, bytes);
      return { kind: "unsaved" };
    }
    this.#unsaved.delete(k);
    return { kind: "answer", bytes };
  }

  #hold(k: string, bytes: Uint8Array): void {
    this.#unsaved.delete(k);
    this.#unsaved.set(k, bytes);
    if (this.#unsaved.size <= this.capacity) return;
    const oldest = this.#unsaved.keys().next().value;
    if (oldest !== undefined) this.#unsaved.delete(oldest);
  }
}
