/**
 * Where the log a hub holds of a room ends (heldLog.ts), over a stand-in of its storages:
 * the main storage's replica, its shard's copy (shards on their own storage), its term record
 * and term starts. The hubs in staleVote.test.ts run the planned-transfer case end to end.
 */
import { describe, expect, it } from "vitest";
import type { Proposal } from "../../src/federation/authority/statement.js";
import type { TermRecord } from "../../src/federation/authority/termState.js";
import { HeldLog } from "../../src/federation/heldLog.js";
import type { TransferHost } from "../../src/federation/transferTypes.js";

const ROOM = 7n;
const SELF = "a.example";
const OTHER = "b.example";

function recordOf(term: bigint, kind: Proposal["kind"], from: string, to = OTHER): TermRecord {
  const proposal = { roomId: ROOM, term, from, to, kind } as Proposal;
  return { roomId: ROOM, term, authority: to, certificate: { proposal, votes: [] } };
}

/** A hub whose replica ends at `main`, its shard at `shard` (undefined: shards on main). */
function hub(s: { main: bigint; shard?: bigint; rec?: TermRecord; logTermMain?: bigint }) {
  const reads: bigint[] = [];
  let failNext = false;
  const h = {
    self: SELF,
    storage: { nextIndex: () => s.main },
    records: { get: () => s.rec },
    facts: { logTerm: (_: bigint, length: bigint) => (length === s.main ? s.logTermMain : 0n) },
    local: () =>
      s.shard === undefined
        ? {}
        : {
            shardLogEnd: async (roomId: bigint) => {
              reads.push(roomId);
              if (failNext) {
                failNext = false;
                throw new Error("shard gone");
              }
              return s.shard;
            },
          },
  } as unknown as TransferHost;
  return { held: new HeldLog(h), reads, s, fail: () => (failNext = true) };
}

/** `end` once the shard's end is read. */
async function settledEnd(held: HeldLog): Promise<bigint | undefined> {
  await held.read(ROOM);
  return held.end(ROOM);
}

describe("HeldLog", () => {
  it("is the main storage's end, at once, where the shards use the main storage", () => {
    const { held, reads } = hub({ main: 5n, rec: recordOf(1n, "planned", SELF) });
    expect(held.read(ROOM)).toBeUndefined();
    expect(held.end(ROOM)).toBe(5n);
    expect(reads).toEqual([]);
  });

  it("is the main storage's end while this hub sequences the room, or holds no record of it", () => {
    for (const rec of [undefined, recordOf(1n, "planned", OTHER, SELF)]) {
      const { held, reads } = hub({ main: 3n, shard: 9n, ...(rec ? { rec } : {}) });
      expect(held.read(ROOM)).toBeUndefined();
      expect(held.end(ROOM)).toBe(3n);
      expect(reads).toEqual([]);
    }
  });

  it("is the shard's end after a planned transfer from this hub, while the replica is behind it", async () => {
    const { held, s } = hub({ main: 3n, shard: 9n, rec: recordOf(1n, "planned", SELF) });
    expect(held.end(ROOM)).toBeUndefined(); // not read yet
    expect(await settledEnd(held)).toBe(9n);
    s.main = 12n; // the replica caught up past it
    expect(held.end(ROOM)).toBe(12n);
  });

  it("is the replica's end when the shard's copy does not run past it", async () => {
    const { held } = hub({ main: 9n, shard: 9n, rec: recordOf(2n, "failover", SELF) });
    expect(await settledEnd(held)).toBe(9n);
  });

  it.each([
    ["deposed by a failover", recordOf(2n, "failover", SELF)],
    ["after a later planned transfer between others", recordOf(2n, "planned", OTHER, "c.example")],
  ])(
    "is unknown %s while the shard runs past a replica with no entry of the current term",
    async (_, rec) => {
      const { held, s } = hub({ main: 3n, shard: 9n, rec, logTermMain: 1n });
      expect(await settledEnd(held)).toBeUndefined();
      // The replica holds an entry of term 2: the current authority's starting log, with
      // every entry committed before it.
      s.logTermMain = 2n;
      expect(held.end(ROOM)).toBe(3n);
    },
  );

  it("reads the shard once per term of the record, again in a new term and after a failure", async () => {
    const { held, reads, s, fail } = hub({
      main: 3n,
      shard: 9n,
      rec: recordOf(1n, "planned", SELF),
    });
    const first = held.read(ROOM);
    expect(held.read(ROOM)).toBe(first); // one read under way
    await first;
    expect(held.read(ROOM)).toBeUndefined();
    expect(held.end(ROOM)).toBe(9n);
    expect(reads).toHaveLength(1);
    s.rec = recordOf(2n, "failover", OTHER, "c.example");
    s.logTermMain = 0n;
    fail();
    expect(held.end(ROOM)).toBeUndefined(); // a new term: asked again (and the read fails)
    await Promise.resolve();
    await Promise.resolve();
    expect(held.end(ROOM)).toBeUndefined();
    await held.read(ROOM);
    expect(reads).toHaveLength(3);
    expect(held.end(ROOM)).toBeUndefined(); // deposed, replica behind: unknown
  });
});
