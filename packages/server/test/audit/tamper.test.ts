/**
 * Tampering with the audit table of a real data directory (issue 3): an edited, dropped or
 * reordered record is found by `verifyAudit` and by the offline `verifyAuditLog`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decodeAuditRecord, encodeAuditRecord } from "../../src/audit/chain.js";
import { u64Key } from "../../src/storage/keys.js";
import { openEnv } from "../../src/storage/lmdb/layout.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { verifyAuditLog } from "../../src/storage/lmdb/verifyLog.js";
import { entry, seededRng, tempDir } from "../storage/helpers.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A directory with six audit records: four written directly, two by secure deletes. */
async function populated(): Promise<string> {
  const d = tempDir("audit");
  cleanups.push(d.cleanup);
  const s = await openLmdbStorage({
    path: d.path,
    rng: seededRng("audit"),
    clock: { now: () => 50n },
  });
  await s.append([entry(1n, 0n, "a"), entry(1n, 1n, "b")]);
  await s.appendAudit({
    kind: "kick",
    at: 1n,
    roomId: 1n,
    actor: "mod",
    detail: { user_id: "eve" },
  });
  await s.secureDelete(1n, 0n, { actor: "mod" });
  await s.appendAudit({
    kind: "ban",
    at: 2n,
    roomId: 1n,
    actor: "mod",
    detail: { user_id: "eve", scope: "hub" },
  });
  await s.appendAudit({
    kind: "authority",
    at: 3n,
    actor: "hub-a",
    detail: { term: 2n, hub: "hub-b" },
  });
  await s.secureDelete(1n, 1n);
  await s.appendAudit({ kind: "unban", at: 4n, actor: "mod", detail: { user_id: "eve" } });
  expect(s.verifyAudit()).toEqual({ ok: true, records: 6 });
  await s.close();
  return d.path;
}

async function tamper(
  path: string,
  fn: (audit: ReturnType<typeof openEnv>["tables"]["audit"]) => void,
) {
  const env = openEnv(path);
  await env.root.transaction(() => fn(env.tables.audit));
  await env.root.close();
}

async function verifyBoth(path: string) {
  const offline = await verifyAuditLog(path);
  const s = await openLmdbStorage({ path });
  const online = s.verifyAudit();
  await s.close();
  expect(online).toEqual(offline);
  return offline;
}

describe("audit log tampering on LMDB", () => {
  it("verifies the untouched log", async () => {
    const path = await populated();
    expect(await verifyBoth(path)).toEqual({ ok: true, records: 6 });
  });

  it("finds an edited record", async () => {
    const path = await populated();
    await tamper(path, (audit) => {
      const bytes = audit.get(u64Key(2n));
      if (bytes === undefined) throw new Error("no record 2");
      const d = decodeAuditRecord(new Uint8Array(bytes));
      // A careful forger keeps the prev hash and the sequence number; only the user changes.
      audit.putSync(
        u64Key(2n),
        encodeAuditRecord(d.prev, d.seq, { ...d.record, detail: { user_id: "bob" } }),
      );
    });
    expect(await verifyBoth(path)).toMatchObject({ ok: false, firstBroken: 2 });
  });

  it("finds a dropped record", async () => {
    const path = await populated();
    await tamper(path, (audit) => audit.removeSync(u64Key(3n)));
    expect(await verifyBoth(path)).toMatchObject({ ok: false, firstBroken: 3 });
  });

  it("finds a dropped last record through the head", async () => {
    const path = await populated();
    await tamper(path, (audit) => audit.removeSync(u64Key(5n)));
    expect(await verifyBoth(path)).toMatchObject({ ok: false, firstBroken: 5 });
  });

  it("finds reordered records", async () => {
    const path = await populated();
    await tamper(path, (audit) => {
      const a = new Uint8Array(audit.get(u64Key(1n)) ?? []);
      const b = new Uint8Array(audit.get(u64Key(4n)) ?? []);
      audit.putSync(u64Key(1n), b);
      audit.putSync(u64Key(4n), a);
    });
    expect(await verifyBoth(path)).toMatchObject({ ok: false, firstBroken: 1 });
  });

  it("refuses to read a record that no longer decodes", async () => {
    const path = await populated();
    await tamper(path, (audit) => audit.putSync(u64Key(0n), new Uint8Array(40)));
    const s = await openLmdbStorage({ path });
    expect(() => s.readAudit()).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    expect(s.verifyAudit()).toMatchObject({ ok: false, firstBroken: 0 });
    await s.close();
  });
});
