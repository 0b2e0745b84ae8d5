/**
 * Hubs that stop being a room's voters (their last member device removed, e.g. a kick)
 * still hold that member's entries up to its removal, and with `ack_quorum = "majority"` a
 * replica fans an entry out only once the authority's commit point passed it (FED_LOG_STATE
 * `commit`, sent to the voters). So a hub that left keeps learning the commit point until
 * it passes the entry that made it leave: the removed device gets the commit removing it,
 * as on one hub, and nothing after.
 */
export class LeavingVoters {
  /** Per room: hub → the log length up to which it still learns the commit point. */
  private readonly rooms = new Map<bigint, Map<string, bigint>>();

  /** The voters changed from `before` to `after` at the entry ending at `length`. */
  changed(
    roomId: bigint,
    before: readonly string[] | undefined,
    after: readonly string[],
    length: bigint,
  ): void {
    let left = this.rooms.get(roomId);
    for (const d of before ?? []) {
      if (after.includes(d)) continue;
      if (left === undefined) {
        left = new Map();
        this.rooms.set(roomId, left);
      }
      left.set(d, length);
    }
    // A hub back among the voters learns the commit point as one again.
    for (const d of after) left?.delete(d);
  }

  /** Who learns the commit point `commit`: the voters and the hubs still owed it. */
  recipients(roomId: bigint, voters: readonly string[], commit: bigint): string[] {
    const left = this.rooms.get(roomId);
    if (left === undefined) return [...voters];
    const out = [...voters, ...left.keys()];
    for (const [d, length] of left) if (commit >= length) left.delete(d);
    if (left.size === 0) this.rooms.delete(roomId);
    return out;
  }
}
