/**
 * The term of each entry of a room's log, as a hub records it (src/federation/roomFacts.ts):
 * what its proposals and votes compare (how complete a log is). A catch-up page's entries
 * keep the terms the authority's log gives them; a start past the page says nothing.
 */
import { describe, expect, it } from "vitest";
import { RoomFacts } from "../../src/federation/roomFacts.js";
import type { AuditRecord } from "../../src/storage/types.js";

const ROOM = 9n;

function facts(audit: AuditRecord[] = []): RoomFacts {
  const storage = {
    appendAudit: async (r: AuditRecord) => {
      audit.push(r);
    },
    readAudit: () => audit,
  };
  return new RoomFacts({ storage, clock: { now: () => 0n }, self: "b.example" });
}

describe("RoomFacts", () => {
  it("a page's entries get the authority's terms, a start past the page is not taken (fed_hubs_transfer seed 62)", async () => {
    const f = facts();
    // The authority's log: term 1 from 2, term 3 from 6 (where it will append next).
    await f.adoptStarts(ROOM, 4n, 6n, [
      [1n, 2n],
      [3n, 6n],
    ]);
    expect(f.termAt(ROOM, 6n)).toBe(1n);
    // This hub takes the room in term 2 from its head: its own entries are of term 2.
    await f.beginTerm(ROOM, 2n, 6n);
    expect(f.termAt(ROOM, 7n)).toBe(2n);
  });

  it("a page fetched again after the log was given up: each entry keeps its own term, read back after a restart", async () => {
    const audit: AuditRecord[] = [];
    const f = facts(audit);
    await f.entryOf(ROOM, 4n, 0n);
    await f.forgetTerms(ROOM, 5n);
    expect(f.termAt(ROOM, 1n)).toBe(0n);
    await f.adoptStarts(ROOM, 0n, 10n, [
      [2n, 3n],
      [5n, 8n],
    ]);
    const back = facts(audit);
    expect([3n, 4n, 8n, 9n, 10n].map((n) => back.termAt(ROOM, n))).toEqual([0n, 2n, 2n, 5n, 5n]);
  });

  it("a live frame's term is recorded at its own index, only when the record said otherwise", async () => {
    const audit: AuditRecord[] = [];
    const f = facts(audit);
    await f.entryOf(ROOM, 1n, 5n);
    const writes = audit.length;
    await f.entryOf(ROOM, 1n, 6n);
    expect(audit.length).toBe(writes);
    expect([5n, 6n, 7n].map((n) => f.termAt(ROOM, n))).toEqual([0n, 1n, 1n]);
  });

  it("a log that reached a term's start counts as of that term in elections, also after a restart, until it is given up", async () => {
    const audit: AuditRecord[] = [];
    const f = facts(audit);
    await f.entryOf(ROOM, 2n, 0n); // its entries are of term 2
    // Checked against the authority of term 4, whose term starts at 5: no entry of term 4.
    await f.reach(ROOM, 4n, 5n);
    expect(f.termAt(ROOM, 5n)).toBe(2n);
    expect(f.logTerm(ROOM, 5n)).toBe(4n);
    expect(f.logTerm(ROOM, 4n)).toBe(2n); // a shorter log does not hold the term's start
    await f.reach(ROOM, 3n, 4n); // an older term's start changes nothing
    expect(facts(audit).logTerm(ROOM, 5n)).toBe(4n);
    await f.forgetTerms(ROOM, 6n);
    expect(f.logTerm(ROOM, 5n)).toBe(0n);
    expect(facts(audit).logTerm(ROOM, 5n)).toBe(0n);
  });

  it("a log given up votes as the starting log of the term it was given up for until fetched again (fed_hubs_churn seed 266)", async () => {
    const audit: AuditRecord[] = [];
    const f = facts(audit);
    await f.entryOf(ROOM, 1n, 0n);
    expect(f.votingLog(ROOM, 18n)).toEqual({ position: 18n, lastTerm: 1n });
    // Given up for term 18's log: empty, it would have granted any candidate.
    await f.forgetTerms(ROOM, 18n);
    expect(f.votingLog(ROOM, 0n)).toEqual({ position: 0n, lastTerm: 18n });
    expect(facts(audit).votingLog(ROOM, 0n)).toEqual({ position: 0n, lastTerm: 18n });
    // Fetched again: entries of terms 1 then 18 (its start at 15 in the page).
    await f.adoptStarts(ROOM, 0n, 17n, [
      [1n, 0n],
      [18n, 15n],
    ]);
    expect(f.votingLog(ROOM, 17n)).toEqual({ position: 17n, lastTerm: 18n });
    // Part of it only (the first page): still the floor.
    expect(f.votingLog(ROOM, 10n)).toEqual({ position: 0n, lastTerm: 18n });
  });

  it("a hub taking a term records its start and the term as its log's in one record", async () => {
    const audit: AuditRecord[] = [];
    const f = facts(audit);
    await f.entryOf(ROOM, 1n, 0n);
    const before = audit.length;
    await f.takeTerm(ROOM, 3n, 7n);
    expect(audit.length).toBe(before + 1);
    expect(f.startOf(ROOM, 3n)).toBe(7n);
    expect(f.startOf(ROOM, 0n)).toBe(0n);
    expect(f.startOf(ROOM, 2n)).toBeUndefined();
    expect(facts(audit).logTerm(ROOM, 7n)).toBe(3n);
    expect(f.termAt(ROOM, 8n)).toBe(3n);
  });
});
