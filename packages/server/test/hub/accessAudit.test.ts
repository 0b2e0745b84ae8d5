/**
 * Refused room access is audited (hub/accessAudit.ts): NO_ACCESS and FORBIDDEN from a
 * room's shard are rights violations and written to the audit chain under the user, at
 * most 20 a minute; other refusals and successes are not.
 */
import { Opcode } from "@kalandra/proto";
import { ManualTime } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import { AccessAudit } from "../../src/hub/accessAudit.js";
import { MemoryStorage } from "../../src/storage/memoryStorage.js";
import { refuse } from "../../src/vocabulary/outcome.js";

const fetchReq = { opcode: Opcode.GROUP_INFO_FETCH, roomId: 7n };

describe("AccessAudit", () => {
  it("records NO_ACCESS and FORBIDDEN under the user, nothing else", async () => {
    const storage = new MemoryStorage();
    const audit = new AccessAudit({ storage, clock: new ManualTime() });
    const noAccess = { ok: false, refusal: refuse("NO_ACCESS", "not invited") } as const;
    expect(await audit.note(noAccess, fetchReq, "mallory")).toBe(noAccess);
    const policy = { opcode: Opcode.ROOM_POLICY, roomId: 7n };
    await audit.note({ ok: false, refusal: refuse("FORBIDDEN", "admins only") }, policy, "bob");
    await audit.note({ ok: false, refusal: refuse("STALE_EPOCH", "old") }, policy, "bob");
    await audit.note({ ok: true }, fetchReq, "alice");
    await audit.note(undefined, fetchReq, "alice");
    const records = storage.readAudit().filter((r) => r.kind === "access_refused");
    expect(records.map((r) => [r.actor, r.roomId, r.detail.code, r.detail.opcode])).toEqual([
      ["user:mallory", 7n, "NO_ACCESS", "GROUP_INFO_FETCH"],
      ["user:bob", 7n, "FORBIDDEN", "ROOM_POLICY"],
    ]);
  });

  it("writes at most 20 records a minute; the next says how many it left out", async () => {
    const storage = new MemoryStorage();
    const time = new ManualTime();
    const audit = new AccessAudit({ storage, clock: time });
    const refused = { ok: false, refusal: refuse("NO_ACCESS", "not invited") } as const;
    for (let i = 0; i < 50; i++) await audit.note(refused, fetchReq, "mallory");
    expect(storage.readAudit().filter((r) => r.kind === "access_refused")).toHaveLength(20);
    time.advance(60_000);
    await audit.note(refused, fetchReq, "mallory");
    const last = storage.readAudit().at(-1);
    expect(last?.detail.suppressed_before).toBe(30);
  });
});
