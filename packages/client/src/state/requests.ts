/**
 * Requests awaiting the hub's response. A request is resent with the same bytes (so the
 * same `request_id`) until an answer arrives: the hub deduplicates on
 * (sender_id, request_id) and answers a repeat with its first answer (DESIGN §4), which is
 * what lets a client survive heavy packet loss.
 *
 * Federation (DESIGN §11): while a room's authority moves, or the home hub cannot reach it,
 * a request is refused before anything sequenced it (TRANSFERRING, NOT_AUTHORITY,
 * PEER_UNREACHABLE). Such a refusal is "not now", not the request's fate: the same bytes go
 * again after the hub's retry hint plus jitter, a bounded number of times, so a transfer
 * is invisible to the application (docs/federation.md "Clients during a transfer").
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

/**
 * Refusals of a federated room's routing: nothing sequenced this copy (the old authority
 * refuses writes while handing over, a replaced one refuses as NOT_AUTHORITY, the home hub
 * had no link to forward on). Resending the same request_id is safe: a copy sequenced
 * earlier is answered from the hub's idempotency record.
 */
const ROUTING_REFUSALS: ReadonlySet<string> = new Set([
  "TRANSFERRING",
  "NOT_AUTHORITY",
  "PEER_UNREACHABLE",
]);

/** A hub's retry hint is honoured up to this (a broken hint must not park a request). */
const MAX_HINT_MS = 30_000;

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
  /** Routing refusals retried so far (bounded by `routingRetries`). */
  rerouted: number;
  timer: TimerHandle | undefined;
  resolve(f: ReceivedFrame): void;
  reject(e: Error): void;
}

export interface RequestPolicy {
  /** Delay before a request is sent again (ms). */
  retryMs: number;
  /** Sends before giving up, the first one included. */
  maxAttempts: number;
  /**
   * Routing refusals (TRANSFERRING, NOT_AUTHORITY, PEER_UNREACHABLE) retried after the hub's
   * hint before the refusal is the answer (0 = none).
   */
  routingRetries?: number;
}

export const DEFAULT_REQUEST_POLICY: RequestPolicy = {
  retryMs: 1000,
  maxAttempts: 30,
  routingRetries: 40,
};

export class RequestTracker {
  readonly #pending = new Map<number, Pending>();
  readonly #send: (bytes: Uint8Array) => void;
  readonly #timers: Timers;
  readonly #policy: RequestPolicy;
  readonly #jitter: () => number;
  #online = true;
  /** False while a session handshake is under way: only HELLO / AUTH_RESPONSE go out. */
  #authenticated = true;

  /** `jitter` draws a fraction in [0, 1): retries after a hint spread over hint × [1, 1.5). */
  constructor(
    send: (bytes: Uint8Array) => void,
    timers: Timers,
    policy: RequestPolicy,
    jitter: () => number = () => 0,
  ) {
    this.#send = send;
    this.#timers = timers;
    this.#policy = policy;
    this.#jitter = jitter;
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
      const p: Pending = { bytes, attempts: 0, rerouted: 0, timer: undefined, resolve, reject };
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
    if ((frame.header.flags & Flag.ERROR) !== 0 && !isHandshake(p.bytes)) {
      const e = hubError(frame);
      if (SESSION_REFUSALS.has(e.hubName)) return false;
      if (ROUTING_REFUSALS.has(e.hubName) && p.rerouted < (this.#policy.routingRetries ?? 0)) {
        this.#retryLater(frame.header.requestId, p, e.retryAfterMs);
        return true;
      }
    }
    this.#pending.delete(frame.header.requestId);
    if (p.timer !== undefined) this.#timers.clear(p.timer);
    p.resolve(frame);
    return true;
  }

  /** Sends the request again after the hub's hint (or the retry delay), with jitter. */
  #retryLater(requestId: number, p: Pending, hintMs: bigint | undefined): void {
    p.rerouted++;
    if (p.timer !== undefined) this.#timers.clear(p.timer);
    const hint =
      hintMs === undefined ? this.#policy.retryMs : Math.min(Number(hintMs), MAX_HINT_MS);
    const delay = Math.max(1, Math.round(hint * (1 + 0.5 * this.#jitter())));
    p.timer = this.#timers.set(delay, () => this.#attempt(requestId, p));
  }

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
