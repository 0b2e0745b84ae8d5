/**
 * Caps on open sessions per source address and per user (`limits.max_connections_per_ip`,
 * `limits.max_sessions_per_user`), beside the hub-wide `max_connections`: one address or one
 * account cannot take the whole connection budget in a connect storm (issue 15). Counted
 * over every listener, like `max_connections`. Checked and counted in the same synchronous
 * step (the peer when a connection is accepted, the user right before AUTH_OK), so sessions
 * racing each other cannot slip past a cap. Sans-IO; 0 = no cap.
 */

export interface ConnectionCapLimits {
  /** Open sessions from one source address (0 = no cap). */
  maxConnectionsPerIp: number;
  /** Authenticated sessions of one user over all its devices (0 = no cap). */
  maxSessionsPerUser: number;
}

export const NO_CAPS: ConnectionCapLimits = { maxConnectionsPerIp: 0, maxSessionsPerUser: 0 };

export class ConnectionCaps {
  #limits: ConnectionCapLimits;
  readonly #perPeer = new Map<string, number>();
  readonly #perUser = new Map<string, number>();
  readonly #peerOf = new Map<string, string>();
  readonly #userOf = new Map<string, string>();

  constructor(limits: ConnectionCapLimits) {
    this.#limits = limits;
  }

  reconfigure(limits: ConnectionCapLimits): void {
    this.#limits = limits;
  }

  /** Why a new connection from `peer` is refused, or undefined to admit it. */
  refusePeer(peer: string): string | undefined {
    const max = this.#limits.maxConnectionsPerIp;
    if (max > 0 && (this.#perPeer.get(peer) ?? 0) >= max)
      return `${peer} holds its maximum of ${max} sessions`;
    return undefined;
  }

  /** Counts an admitted connection from `peer`. */
  addPeer(sessionId: string, peer: string): void {
    if (this.#peerOf.has(sessionId)) return;
    this.#peerOf.set(sessionId, peer);
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
  }

  /**
   * Why `sessionId` may not become a session of `userId`, or undefined. A session already
   * counted for that user (a repeated handshake) is not counted twice.
   */
  refuseUser(sessionId: string, userId: string): string | undefined {
    const max = this.#limits.maxSessionsPerUser;
    if (max === 0 || this.#userOf.get(sessionId) === userId) return undefined;
    if ((this.#perUser.get(userId) ?? 0) >= max) return `user holds its maximum of ${max} sessions`;
    return undefined;
  }

  /** Counts an authenticated session of `userId`. */
  addUser(sessionId: string, userId: string): void {
    if (this.#userOf.get(sessionId) === userId) return;
    this.removeUser(sessionId);
    this.#userOf.set(sessionId, userId);
    this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
  }

  /** The session no longer speaks for its user. */
  removeUser(sessionId: string): void {
    const user = this.#userOf.get(sessionId);
    if (user === undefined) return;
    this.#userOf.delete(sessionId);
    decrement(this.#perUser, user);
  }

  /** The session is gone. */
  remove(sessionId: string): void {
    this.removeUser(sessionId);
    const peer = this.#peerOf.get(sessionId);
    if (peer === undefined) return;
    this.#peerOf.delete(sessionId);
    decrement(this.#perPeer, peer);
  }

  /** Open sessions counted for `peer` (tests, metrics). */
  peerCount(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }

  /** Authenticated sessions counted for `userId`. */
  userCount(userId: string): number {
    return this.#perUser.get(userId) ?? 0;
  }
}

function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 0) - 1;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}
