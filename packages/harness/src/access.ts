/**
 * Who may hold a leaf in a room, as the honest actors of a scenario decided it (DESIGN §10):
 * the room's creator, the users an honest member added or invited, everyone while the room
 * is open; a kick or a ban takes the right away until the user is admitted again. The
 * `room_access` invariant (invariants/identityChecks.ts) holds every new leaf of every room
 * against this ledger. Scenarios record a decision *before* acting on it (admit, then add),
 * so a leaf never appears ahead of its admission; forgetting to admit makes the invariant
 * fire (a false alarm is loud, a missed violation would be silent).
 */
export class RoomAccess {
  readonly #admitted = new Map<bigint, Set<string>>();
  readonly #open = new Set<bigint>();

  /** `users` may hold leaves in `roomId` (creator, added by an honest member, invited). */
  admit(roomId: bigint, users: readonly string[]): void {
    let set = this.#admitted.get(roomId);
    if (set === undefined) {
      set = new Set();
      this.#admitted.set(roomId, set);
    }
    for (const u of users) set.add(u);
  }

  /** A kick or ban: `user` may no longer join `roomId` (its current leaves may linger). */
  revoke(roomId: bigint, user: string): void {
    this.#admitted.get(roomId)?.delete(user);
  }

  /** Anyone may join (an open room, DESIGN §10). */
  open(roomId: bigint): void {
    this.#open.add(roomId);
  }

  may(roomId: bigint, user: string): boolean {
    return this.#open.has(roomId) || this.#admitted.get(roomId)?.has(user) === true;
  }
}
