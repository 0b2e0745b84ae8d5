/**
 * Kicks across hubs (docs/federation.md "Kicks across hubs"): any voter of a room may
 * sequence it one day, so each must be an MLS external sender of the room to sign a kick's
 * Remove proposals. The authority asks its shard to enlist the voters' pinned hub keys
 * (moderation/enlistHubs.ts) when the voters change and at each commit (which may be what
 * let a pending enlisting through), until the shard answers that all are listed; then only
 * when the voters change again.
 */
import type { LocalHub } from "./coreDeps.js";

export class HubEnlisting {
  /** Per room, the voter set all of whose hubs are its external senders. */
  private readonly listed = new Map<bigint, string>();

  constructor(
    private readonly self: string,
    private readonly keyOf: (domain: string) => Uint8Array | undefined,
    private readonly local: () => LocalHub | undefined,
  ) {}

  /** The room's voters now (sorted); asks the shard unless they are all listed. */
  check(roomId: bigint, voters: readonly string[]): void {
    const set = voters.join();
    const hub = this.local();
    if (this.listed.get(roomId) === set || hub?.enlistHubs === undefined) return;
    const keys = voters.flatMap((v) => {
      const k = v === this.self ? undefined : this.keyOf(v);
      return k === undefined ? [] : [k];
    });
    if (keys.length === 0) return;
    void hub.enlistHubs(roomId, keys).then(
      (all) => {
        if (all) this.listed.set(roomId, set);
      },
      () => undefined,
    );
  }
}
