/**
 * Requests awaiting the hub's response. A request is resent with the same bytes (so the
 * same `request_id`) until an answer arrives: the hub deduplicates on
 * (sender_id, request_id) and answers a repeat with its first answer (DESIGN §4), which is
 * what lets a client survive heavy packet loss.
 */
import { Flag, Opcode, type TimerHandle, type Timers } from "@kalandra/proto";
import { hubError } from "./errors.js";
import type { ReceivedFrame } from "./wire.js";

/**
 * Refusals of the session, not of the request: a request resent on a new connection before
 * its handshake completed is answered UNAUTHENTICATED without the hub looking at it (and a
 * throttled one RATE_LIMITED). They are no answer to the request: it is sent again (same
 * bytes, same request_id) on the retry timer. Dropping it instead would lose an own commit
 * the hub may already have sequenced from an earlier copy (found by the simulation, issue 6).
 */
const SESSION_REFUSALS: ReadonlySet<string> = new Set(["UNAUTHENTICATED", "RATE_LIMITED"]);

function isHandshake(bytes: Uint8Array): boolean {
  const opcode = bytes.length >= 8 ? (bytes[6] ?? 0) * 256 + (bytes[7] ?? 0) : 0;
  return opcode === Opcode.HELLO || opcode === Opcode.AUTH_RESPONSE;
}

export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";
  readonly code = "request_timeout";
}

interface Pending {
  bytes: Uint8Array;
  attempts: number;
  timer: TimerHandle | undefined;
  resolve(f: ReceivedFrame): void;
  reject(e: Error): void;
}

export interface RequestPolicy {
  /** Delay before a request is sent again (ms). */
  retryMs: number;
  /** Sends before giving up, the first one included. */
  maxAttempts: number;
}

export const DEFAULT_REQUEST_POLICY: RequestPolicy = { retryMs: 1000, maxAttempts: 30 };

export class RequestTracker {
  readonly #pending = new Map<number, Pending>();
  readonly #send: (bytes: Uint8Array) => void;
  readonly #timers: Timers;
  readonly #policy: RequestPolicy;
  #online = true;
  /** False while a session handshake is under way: only HELLO / AUTH_RESPONSE go out. */
  #authenticated = true;

  constructor(send: (bytes: Uint8Array) => void, timers: Timers, policy: RequestPolicy) {
    this.#send = send;
    this.#timers = timers;
    this.#policy = policy;
  }

  /** Sends `bytes` and resolves with the response frame carrying `requestId`. */
  request(requestId: number, bytes: Uint8Array): Promise<ReceivedFrame> {
    const existing = this.#pending.get(requestId);
    if (existing !== undefined) {
      // The same request asked again (resuming in-flight frames after a reconnect while the
      // first ask still waits): both callers get the one answer. Replacing the first entry
      // would leave its caller waiting forever and its timer resending forever (found by
      // the simulation, issue 6).
      return new Promise<ReceivedFrame>((resolve, reject) => {
        const { resolve: first, reject: firstReject } = existing;
        existing.resolve = (f) => {
          first(f);
          resolve(f);
        };
        existing.reject = (e) => {
          firstReject(e);
          reject(e);
        };
      });
    }
    return new Promise<ReceivedFrame>((resolve, reject) => {
      const p: Pending = { bytes, attempts: 0, timer: undefined, resolve, reject };
      this.#pending.set(requestId, p);
      this.#attempt(requestId, p);
    });
  }

  #attempt(requestId: number, p: Pending): void {
    if (p.attempts >= this.#policy.maxAttempts) {
      this.#pending.delete(requestId);
      p.reject(new RequestTimeoutError(`no answer to request ${requestId}`));
      return;
    }
    // A hub strikes (and after a few, closes) a session that sends anything but the
    // handshake before it is authenticated: hold other requests without spending attempts.
    if (this.#online && (this.#authenticated || isHandshake(p.bytes))) {
      p.attempts++;
      this.#send(p.bytes);
    }
    p.timer = this.#timers.set(this.#policy.retryMs, () => this.#attempt(requestId, p));
  }

  /** True while a request would go out now: online, and no session handshake under way. */
  get sending(): boolean {
    return this.#online && this.#authenticated;
  }

  /** Delivers a response; returns false when nobody waits for it (a late duplicate). */
  resolve(frame: ReceivedFrame): boolean {
    const p = this.#pending.get(frame.header.requestId);
    if (p === undefined) return false;
    if (
      (frame.header.flags & Flag.ERROR) !== 0 &&
      !isHandshake(p.bytes) &&
      SESSION_REFUSALS.has(hubError(frame).hubName)
    )
      return false;
    this.#pending.delete(frame.header.requestId);
    if (p.timer !== undefined) this.#timers.clear(p.timer);
    p.resolve(frame);
    return true;
  }

  /** While offline nothing is sent and no attempt is spent; going online resends at once. */
  /** Holds every non-handshake request until `resendAll()` (a session handshake starts). */
  holdUntilAuthenticated(): void {
    this.#authenticated = false;
  }

  /** Ends a hold without resending now (the retry timers do). */
  release(): void {
    this.#authenticated = true;
  }

  setOnline(online: boolean, resend = true): void {
    this.#online = online;
    if (online && resend) this.resendAll();
  }

  /**
   * Sends every outstanding request again now (same bytes). After a reconnect the client
   * calls this once the session is authenticated, so nothing races the handshake.
   */
  resendAll(): void {
    this.#authenticated = true;
    if (!this.#online) return;
    for (const [id, p] of this.#pending) {
      if (isHandshake(p.bytes)) continue;
      if (p.timer !== undefined) this.#timers.clear(p.timer);
      this.#attempt(id, p);
    }
  }

  /** Fails every outstanding request (client closed). */
  failAll(e: Error): void {
    for (const [id, p] of this.#pending) {
      if (p.timer !== undefined) this.#timers.clear(p.timer);
      this.#pending.delete(id);
      p.reject(e);
    }
  }

  get size(): number {
    return this.#pending.size;
  }
}
