/**
 * Where the log a hub holds of a room ends, as it votes and proposes in a failover
 * (DESIGN §11): a voter grants only a candidate whose log is at least as complete as its own,
 * so its own must be the log it really holds, every entry it counted towards a commit point.
 *
 * A hub keeps its replicas in its main storage, and the room's sequencer runs in its shard.
 * With shards on their own storage (kalandrad's worker shards) a room this hub sequenced
 * grew in the shard, while the main storage's copy stopped where the hub took the room (or
 * is empty: a room created here). After the hub gives the room up, the replica fetches the
 * log again from the new authority; until it has, the shard's copy runs past it. Read from
 * the main storage alone, such a hub voted for a candidate lacking entries it had sequenced
 * itself and counted as committed (with `"majority"`: acknowledged, then lost).
 *
 * So while the shard's copy runs past the replica:
 *  - a hub that handed the room over by a planned transfer (its latest certificate) holds the
 *    shard's log: the new authority's term starts exactly where that copy ends (the handover);
 *  - otherwise (deposed by a failover, or later terms passed) the shard's copy may end in a
 *    tail no majority kept, or hold entries the replica lacks, and which is which cannot be
 *    told: the log is unknown (`end` is undefined: no failover vote, no candidacy) until the
 *    replica's log is of the room's current term (an entry of it, or checked to reach where
 *    it starts: roomFacts.ts `logTerm`; then it holds that term's starting log, with every
 *    entry committed before).
 * The shard's end is read once per (room, term) after the shards drained, and only while
 * another hub sequences the room: then it no longer grows. With shards on the main storage
 * (in process, the simulation) the main storage's end is the log, read at once as before.
 */
import type { TransferHost } from "./transferTypes.js";

interface ShardCopy {
  /** The term of the room's record when the shard's end was read. */
  term: bigint;
  /** Where the shard's copy ends (0: it holds none), once read. */
  end?: bigint;
  reading?: Promise<void>;
}

export class HeldLog {
  readonly #copies = new Map<bigint, ShardCopy>();

  constructor(
    private readonly h: Pick<TransferHost, "self" | "storage" | "records" | "facts" | "local">,
  ) {}

  /** Where this hub's log of the room ends; undefined while that cannot be known. */
  end(roomId: bigint): bigint | undefined {
    const main = this.h.storage.nextIndex(roomId);
    const rec = this.h.records.get(roomId);
    if (!this.#ownCopy() || rec === undefined || rec.authority === this.h.self) return main;
    const copy = this.#copies.get(roomId);
    if (copy?.term !== rec.term || copy.end === undefined) {
      void this.read(roomId);
      return undefined;
    }
    if (copy.end <= main) return main;
    const p = rec.certificate?.proposal;
    if (p?.kind === "planned" && p.from === this.h.self) return copy.end;
    return this.h.facts.logTerm(roomId, main) >= rec.term ? main : undefined;
  }

  /**
   * The read of the shard's end that `end` waits for, undefined when none is needed (no own
   * shard storage, this hub sequences the room, or it was read in the record's term).
   */
  read(roomId: bigint): Promise<void> | undefined {
    const shardLogEnd = this.h.local()?.shardLogEnd;
    const rec = this.h.records.get(roomId);
    if (shardLogEnd === undefined || rec === undefined || rec.authority === this.h.self) return;
    const known = this.#copies.get(roomId);
    if (known?.term === rec.term) return known.reading;
    const copy: ShardCopy = { term: rec.term };
    this.#copies.set(roomId, copy);
    copy.reading = shardLogEnd(roomId).then(
      (end) => {
        copy.end = end ?? 0n;
        delete copy.reading;
      },
      () => {
        // Unknown still: asked again next time.
        if (this.#copies.get(roomId) === copy) this.#copies.delete(roomId);
      },
    );
    return copy.reading;
  }

  #ownCopy(): boolean {
    return this.h.local()?.shardLogEnd !== undefined;
  }
}
