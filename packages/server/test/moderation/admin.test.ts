/**
 * The admin interface (issue 8): authenticated by a bearer token compared in constant time,
 * disabled without a token; unauthenticated or wrongly authenticated calls are refused and
 * audited (rate-limited); every action is audited under the operator's name. Tested on the
 * API object, over real HTTP on the monitoring listener, and through `kalandrad admin`.
 */
import { connect } from "node:net";
import { Opcode } from "@kalandra/proto";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  AdminApi,
  type AdminRequest,
  jsonSafe,
  tokenMatches,
} from "../../src/moderation/adminApi.js";
import { startMonitoring } from "../../src/runtime/node/monitoring.js";
import { frameOf, send } from "../hub/harness.js";
import { roomWith } from "../sequencer/room.js";
import { moderatedEnv, runCli } from "./support.js";

const TOKEN = "correct horse battery staple";

function req(
  method: string,
  path: string,
  body?: unknown,
  authorization: string | null = `Bearer ${TOKEN}`,
): AdminRequest {
  const [p, q] = path.split("?");
  return {
    method,
    path: p as string,
    query: new URLSearchParams(q ?? ""),
    authorization: authorization ?? undefined,
    operator: "ops",
    body,
    remote: "127.0.0.1",
  };
}

async function setup(token = TOKEN, refusalBurst?: number) {
  const env = await moderatedEnv({ limits: { commitDelayMs: 100, commitDeadlineMs: 1000 } });
  const room = await roomWith(["alice", "bob"], { env });
  const api = new AdminApi({
    moderation: env.moderation,
    token: () => token,
    clock: env.time,
    ...(refusalBurst === undefined ? {} : { refusalBurst }),
  });
  return { env, room, api };
}

/** The monitoring listener on a free loopback port, serving `api` under /admin/. */
function monitoringFor(api: AdminApi) {
  return startMonitoring({
    host: "127.0.0.1",
    port: 0,
    registry: new Registry(),
    readiness: async () => ({ ready: true, failing: [], checks: {} }),
    adminToken: () => TOKEN,
    admin: api,
  });
}

describe("admin API", () => {
  it("refuses and audits calls without the right token; disabled without one", async () => {
    const { env, api } = await setup();
    const missing = await api.handle(req("POST", "/admin/kick", {}, null));
    expect(missing).toEqual({ status: 401, body: { error: "missing_token" } });
    const wrong = await api.handle(req("POST", "/admin/kick", {}, "Bearer nope"));
    expect(wrong.status).toBe(401);
    const basic = await api.handle(req("GET", "/admin/audit", {}, `Basic ${TOKEN}`));
    expect(basic.status).toBe(401);
    const refused = env.storage.readAudit().filter((a) => a.kind === "admin_refused");
    expect(refused.map((r) => r.detail.reason)).toEqual([
      "missing_token",
      "wrong_token",
      "wrong_token",
    ]);
    expect(refused[0]).toMatchObject({
      actor: "anonymous",
      detail: { method: "POST", path: "/admin/kick", remote: "127.0.0.1" },
    });
    // Nothing was done.
    expect(env.storage.readAudit().some((a) => a.kind === "kick")).toBe(false);

    const off = await setup("");
    const r = await off.api.handle(req("GET", "/admin/audit", undefined, "Bearer "));
    expect(r.status).toBe(403);
    expect(off.env.storage.readAudit().at(-1)?.detail.reason).toBe("admin_disabled");

    expect(tokenMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(tokenMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches("Bearer ", "")).toBe(false);
  });

  it("rate-limits refusal records and says how many were left out", async () => {
    const { env, api } = await setup(TOKEN, 2);
    for (let i = 0; i < 5; i++) await api.handle(req("GET", "/admin/bans", undefined, "Bearer x"));
    expect(env.storage.readAudit().filter((a) => a.kind === "admin_refused")).toHaveLength(2);
    env.time.advance(60_000);
    await api.handle(req("GET", "/admin/bans", undefined, "Bearer x"));
    const last = env.storage.readAudit().at(-1)!;
    expect(last.detail.suppressed_before).toBe(3);
  });

  it("kicks, bans, redacts, sets retention, reads the audit log and the user index", async () => {
    const { env, api, room } = await setup();
    const [alice] = room.members;
    const m = await send(
      env,
      alice!,
      frameOf(alice!, Opcode.APP_MESSAGE, room.roomId, 1n, {
        generation: 0,
        ciphertext: new Uint8Array([1, 2, 3]),
      }),
    );
    expect(m.opcode).toBe(Opcode.ACK);
    const roomStr = `0x${room.roomId.toString(16)}`;

    const idx = await api.handle(req("GET", "/admin/users/alice/messages"));
    expect(idx.status).toBe(200);
    expect(idx.body).toEqual({
      user: "alice",
      messages: [
        { room: room.roomId.toString(), index: "0" },
        { room: room.roomId.toString(), index: "1" },
        { room: room.roomId.toString(), index: "2" },
      ],
    });

    const red = await api.handle(
      req("POST", "/admin/redact", { room: roomStr, index: "2", reason: "r" }),
    );
    expect(red).toEqual({ status: 200, body: { ok: true, noticeIndex: "3" } });
    const again = await api.handle(req("POST", "/admin/redact", { room: roomStr, index: 2 }));
    expect(again.status).toBe(404);
    const ret = await api.handle(
      req("POST", "/admin/retention", { room: roomStr, max_age_ms: 1000, max_count: "5" }),
    );
    expect(ret.status).toBe(200);
    expect((await api.handle(req("POST", "/admin/sweep"))).status).toBe(200);

    const kick = await api.handle(
      req("POST", "/admin/kick", { room: roomStr, user: "bob", reason: "spam" }),
    );
    expect(kick).toMatchObject({ status: 200, body: { ok: true, leaves: [1] } });
    const notMember = await api.handle(req("POST", "/admin/kick", { room: roomStr, user: "zed" }));
    expect(notMember.status).toBe(404);
    const ban = await api.handle(
      req("POST", "/admin/ban", { user: "mallory", scope: "hub", reason: "x" }),
    );
    expect(ban).toEqual({ status: 200, body: { ok: true, kicked: [] } });
    const bans = await api.handle(req("GET", "/admin/bans"));
    expect(bans.body).toEqual({ bans: [{ user: "mallory", scope: "hub" }] });
    const unban = await api.handle(req("POST", "/admin/unban", { user: "mallory", scope: "hub" }));
    expect(unban.status).toBe(200);

    const audit = await api.handle(req("GET", "/admin/audit?from=0&limit=100"));
    const body = audit.body as {
      records: { kind: string; actor: string }[];
      verification: unknown;
    };
    expect(body.verification).toEqual({ ok: true, records: body.records.length });
    expect(body.records.map((r) => r.kind)).toEqual([
      "redact",
      "retention",
      "kick",
      "ban",
      "unban",
    ]);
    expect(new Set(body.records.map((r) => r.actor))).toEqual(new Set(["admin:ops"]));

    for (const [bad, why] of [
      [req("POST", "/admin/kick", { room: "-1", user: "bob" }), /room/],
      [req("POST", "/admin/kick", { room: "1", user: "" }), /user/],
      [req("POST", "/admin/ban", { user: "u", scope: "world" }), /scope/],
      [req("POST", "/admin/redact", { room: "1", index: "1", reason: 5 }), /reason/],
      [req("POST", "/admin/kick", [1, 2]), /object/],
      [req("POST", "/admin/redact", { room: `${1n << 128n}`, index: "1" }), /range/],
    ] as const) {
      const r = await api.handle(bad);
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(why);
    }
    expect((await api.handle(req("DELETE", "/admin/kick"))).status).toBe(404);
    expect(jsonSafe({ a: 1n, b: new Uint8Array([255]), c: undefined })).toEqual({
      a: "1",
      b: "ff",
    });
  });

  it("over HTTP: the token is checked before the body is read; malformed paths are 400", async () => {
    const { api } = await setup();
    const m = await monitoringFor(api);
    try {
      // Headers announcing 1 MB, then 10 bytes, then nothing: answered and closed at once.
      const answer = await new Promise<{ text: string; closed: boolean }>((resolve, reject) => {
        const sock = connect(m.port, "127.0.0.1");
        let text = "";
        const t = setTimeout(() => {
          sock.destroy();
          resolve({ text, closed: false });
        }, 3000);
        sock.on("data", (d) => {
          text += d.toString();
        });
        sock.on("close", () => {
          clearTimeout(t);
          resolve({ text, closed: true });
        });
        sock.on("error", reject);
        sock.write(
          "POST /admin/kick HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
            'content-length: 1000000\r\n\r\n{"room": "1',
        );
      });
      expect(answer.text).toMatch(/^HTTP\/1\.1 401/);
      expect(answer.text).toMatch(/missing_token/);
      expect(answer.closed).toBe(true);

      const base = `http://127.0.0.1:${m.port}`;
      const auth = { authorization: `Bearer ${TOKEN}` };
      for (const path of ["/admin/users/%E0%A4%A/messages", "/admin/users/%/messages"]) {
        const r = await fetch(`${base}${path}`, { headers: auth });
        expect(r.status).toBe(400);
        expect(await r.json()).toMatchObject({ error: "bad_request" });
      }
      // A well-formed escape still works.
      const ok = await fetch(`${base}/admin/users/al%69ce/messages`, { headers: auth });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ user: "alice" });
    } finally {
      await new Promise<void>((r) => m.server.close(() => r()));
    }
  });

  it("over HTTP on the monitoring listener and through kalandrad admin", async () => {
    const { env, api, room } = await setup();
    const m = await monitoringFor(api);
    try {
      const base = `http://127.0.0.1:${m.port}`;
      const anon = await fetch(`${base}/admin/kick`, {
        method: "POST",
        body: JSON.stringify({ room: "1", user: "bob" }),
      });
      expect(anon.status).toBe(401);
      const bad = await fetch(`${base}/admin/kick`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: "{nope",
      });
      expect(bad.status).toBe(400);
      const r = await runCli([
        "admin",
        "kick",
        "--url",
        base,
        "--token",
        TOKEN,
        "--operator",
        "carol",
        "--room",
        room.roomId.toString(),
        "--user",
        "bob",
        "--reason",
        "spam",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, leaves: [1] });
      const denied = await runCli(["admin", "audit", "--url", base, "--token", "wrong"]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/wrong_token/);
      const kinds = env.storage.readAudit().map((a) => [a.kind, a.actor]);
      expect(kinds).toEqual([
        ["admin_refused", "anonymous"],
        ["kick", "admin:carol"],
        ["admin_refused", "anonymous"],
      ]);
    } finally {
      await new Promise<void>((r) => m.server.close(() => r()));
    }
    // Without an admin handler the routes do not exist.
    const plain = await startMonitoring({
      host: "127.0.0.1",
      port: 0,
      registry: new Registry(),
      readiness: async () => ({ ready: true, failing: [], checks: {} }),
      adminToken: () => "",
    });
    try {
      expect((await fetch(`http://127.0.0.1:${plain.port}/admin/audit`)).status).toBe(404);
    } finally {
      await new Promise<void>((r) => plain.server.close(() => r()));
    }
  }, 60_000);
});
