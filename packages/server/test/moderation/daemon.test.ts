/**
 * Moderation as kalandrad wires it (in-process Daemon): the admin API answers on the
 * monitoring listener only with the configured token, refusals land in the audit log of
 * the data directory, bans survive a restart (replayed from the audit log), and
 * `audit verify` reads the same directory.
 */
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { verifyAuditLog } from "../../src/storage/lmdb/verifyLog.js";

const tmp = tempDir("moderation-daemon");
const dir = tmp.path;
afterAll(() => tmp.cleanup());

function config(token: string) {
  const r = buildConfig({
    server: {
      listen: "127.0.0.1:0",
      websocket_listen: "127.0.0.1:0",
      log_level: "fatal",
      shards: 1,
    },
    monitoring: { listen: "127.0.0.1:0", admin_token: token },
    database: { path: dir },
    moderation: { sweep_interval_ms: 100 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe("kalandrad moderation wiring", () => {
  it("serves the admin API behind the token, audits refusals, keeps bans across restarts", async () => {
    const log = createLogger("fatal");
    const a = await Daemon.start({ config: config("t0ken"), log });
    expect(a.moderation).toBeDefined();
    const base = `http://127.0.0.1:${a.monitoringPort}`;
    const auth = { authorization: "Bearer t0ken", "x-kalandra-operator": "ops" };
    expect((await fetch(`${base}/admin/bans`)).status).toBe(401);
    const ban = await fetch(`${base}/admin/ban`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ user: "mallory", scope: "hub", reason: "spam" }),
    });
    expect(ban.status).toBe(200);
    await a.shutdown("test");

    // Restarted without a token: the API is disabled, the ban still holds.
    const b = await Daemon.start({ config: config(""), log });
    expect(b.moderation?.bans.isBanned("mallory")).toBe(true);
    const off = await fetch(`http://127.0.0.1:${b.monitoringPort}/admin/bans`, { headers: auth });
    expect(off.status).toBe(403);
    await b.shutdown("test");

    expect(await verifyAuditLog(dir)).toEqual({ ok: true, records: 3 });
  }, 60_000);
});
