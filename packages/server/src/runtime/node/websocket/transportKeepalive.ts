/**
 * Keep-alive at the WebSocket level, as the front processes run it (wsFront.ts, issue 15):
 * the same rule as the session's keep-alive (proto keepalive.ts, docs/protocol.md
 * "Keep-alive") — after `intervalMs` without anything from the client, ping it (again every
 * interval while the silence lasts); after `timeoutMs`, it is dead — but the ping is a
 * WebSocket ping frame (RFC 6455 §5.5.2), which every WebSocket client answers with a pong
 * on its own: no Ed25519 signature, no IPC to the primary. A front looks at all its
 * connections in one sweep every `sweepMs` instead of one timer per connection, and tells
 * the primary only that a session went silent.
 */

export interface TransportKeepaliveOptions {
  /** Silence after which a ping frame goes out (ms); 0 = never. */
  intervalMs: number;
  /** Silence after which the client is dead (ms); 0 = never. */
  timeoutMs: number;
}

/** What the front knows of one watched connection (times in ms on one monotonic clock). */
export interface Watched {
  /** When anything (a message, a ping, a pong) last came from the client. */
  heard: number;
  /** When the last ping of this silence went out; undefined = none yet. */
  pinged: number | undefined;
}

/** What to do with a connection now: ping it, declare it dead, or nothing. */
export function keepaliveVerdict(
  w: Watched,
  now: number,
  o: TransportKeepaliveOptions,
): "ping" | "dead" | undefined {
  const silent = Math.max(0, now - w.heard);
  if (o.timeoutMs > 0 && silent >= o.timeoutMs) return "dead";
  if (o.intervalMs <= 0 || silent < o.intervalMs) return undefined;
  if (w.pinged !== undefined && w.pinged >= w.heard && now - w.pinged < o.intervalMs) {
    return undefined;
  }
  return "ping";
}

/**
 * Time between sweeps: a quarter of the shorter period (a ping or a close is at most that
 * late), within 50 ms … 5 s; undefined when both are off.
 */
export function sweepMs(o: TransportKeepaliveOptions): number | undefined {
  const periods = [o.intervalMs, o.timeoutMs].filter((p) => p > 0);
  if (periods.length === 0) return undefined;
  return Math.min(5000, Math.max(50, Math.floor(Math.min(...periods) / 4)));
}
