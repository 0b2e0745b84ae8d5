/**
 * `kalandrad audit verify` (issue 8) on the audit log that moderation writes to a real data
 * directory: it passes untouched and names the first broken record after an edit, a
 * deletion or a reordering of records (exit 1).
 */
import { cpSync } from "node:fs";
import { join } from "node:path";
import { Opcode } from "@kalandra/proto";
import { afterAll, describe, expect, it } from "vitest";
import { decodeAuditRecord, encodeAuditRecord } from "../../src/audit/chain.js";
import { u64Key } from "../../src/storage/keys.js";
import { openEnv, type Tables } from "../../src/storage/lmdb/layout.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { frameOf, send } from "../hub/harness.js";
import { roomWith } from "../sequencer/room.js";
import { seededRng, tempDir } from "../storage/helpers.js";
import { moderatedEnv, runCli } from "./support.js";

const d = tempDir("audit-verify");
afterAll(() => d.cleanup());

async function tampered(name: string, fn: (audit: Tables["audit"]) => void): Promise<string> {
  const path = join(d.path, name);
  cpSync(join(d.path, "hub"), path, { recursive: true });
  const env = openEnv(path);
  await env.root.transaction(() => fn(env.tables.audit));
  await env.root.close();
  return path;
}

describe("kalandrad audit verify", () => {
  it("passes the moderation log and names the first broken record after tampering", async () => {
    const hubDir = join(d.path, "hub");
    const storage = await openLmdbStorage({ path: hubDir, rng: seededRng("audit-verify") });
    const env = await moderatedEnv({ storage });
    const { members, roomId } = await roomWith(["alice", "bob", "carol"], { env });
    const alice = members[0]!;
    const sent = await send(
      env,
      alice,
      frameOf(alice, Opcode.APP_MESSAGE, roomId, 1n, {
        generation: 0,
        ciphertext: new Uint8Array(9),
      }),
    );
    expect((await env.moderation.kick(roomId, "carol", "spam", "admin:a")).ok).toBe(true);
    expect((await env.moderation.ban("bob", "hub", undefined, "fraud", "admin:a")).ok).toBe(true);
    expect(
      (await env.moderation.redact(roomId, sent.frame.header.logIndex, "leak", "admin:a")).ok,
    ).toBe(true);
    // kick, ban, kick (by the ban), secure_delete, redact
    expect(storage.readAudit().map((r) => r.kind)).toEqual([
      "kick",
      "ban",
      "kick",
      "secure_delete",
      "redact",
    ]);
    await env.hub.close();
    await storage.close();

    const good = await runCli(["audit", "verify", "--data", hubDir]);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/audit log ok: 5 records/);

    const edited = await tampered("edit", (audit) => {
      const rec = decodeAuditRecord(new Uint8Array(audit.get(u64Key(0n))!));
      // A careful forger keeps prev and seq; only the reason changes.
      const forged = { ...rec.record, detail: { ...rec.record.detail, reason: "nothing" } };
      audit.putSync(u64Key(0n), encodeAuditRecord(rec.prev, rec.seq, forged));
    });
    const deleted = await tampered("delete", (audit) => audit.removeSync(u64Key(1n)));
    const reordered = await tampered("reorder", (audit) => {
      const a = new Uint8Array(audit.get(u64Key(2n))!);
      const b = new Uint8Array(audit.get(u64Key(4n))!);
      audit.putSync(u64Key(2n), b);
      audit.putSync(u64Key(4n), a);
    });
    for (const [dir, first] of [
      [edited, 0],
      [deleted, 1],
      [reordered, 2],
    ] as const) {
      const r = await runCli(["audit", "verify", "--data", dir]);
      expect(r.code, dir).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`BROKEN at record ${first}:`));
    }
    const missing = await runCli(["audit", "verify", "--data", join(d.path, "nothing-here")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the audit log/);
  }, 90_000);
});
