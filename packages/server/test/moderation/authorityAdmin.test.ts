/**
 * The room-authority admin routes (moderation/authorityRoutes.ts): a federated room's
 * authority as this hub knows it, and a planned transfer asked by the operator, with the
 * federation core's typed refusals mapped to HTTP statuses, every request audited under the
 * operator's name, counted by result. Over the API object, real HTTP and `kalandrad admin
 * rooms transfer|authority`. The federation core is a fake here: its transfer is tested in
 * test/federation/, the whole path in tests/e2e (federationTransfer.test.ts).
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { AdminApi, type AdminRequest } from "../../src/moderation/adminApi.js";
import type {
  RoomAuthorityAdmin,
  RoomAuthorityStatus,
  TransferOutcome,
} from "../../src/moderation/authorityRoutes.js";
import { startMonitoring } from "../../src/runtime/node/monitoring.js";
import { moderatedEnv, runCli } from "./support.js";

const TOKEN = "authority-token";

function req(method: string, path: string, body?: unknown): AdminRequest {
  return {
    method,
    path,
    query: new URLSearchParams(),
    authorization: `Bearer ${TOKEN}`,
    operator: "ops",
    body,
  };
}

/** A federation core that sequences room 7 and knows room 9 as a replica of b.example. */
class FakeFederation implements RoomAuthorityAdmin {
  readonly domain = "a.example";
  readonly asked: [bigint, string][] = [];
  readonly rooms = new Map<bigint, RoomAuthorityStatus>([
    [7n, { authority: "a.example", term: 2n, role: "sequencer", commitIndex: 41n }],
    [9n, { authority: "b.example", term: 1n, role: "replica", commitIndex: 3n }],
  ]);
  async transfer(roomId: bigint, to: string): Promise<TransferOutcome> {
    this.asked.push([roomId, to]);
    const s = this.rooms.get(roomId);
    if (s === undefined) return { ok: false, code: "UNKNOWN_ROOM", message: "no such room" };
    if (s.authority !== this.domain) {
      return { ok: false, code: "NOT_AUTHORITY", message: `${s.authority} is` };
    }
    if (to === "x.example") return { ok: false, code: "PEER_NOT_CONFIGURED", message: "no peer" };
    if (to === "c.example") return { ok: false, code: "PEER_UNREACHABLE", message: "link down" };
    this.rooms.set(roomId, { ...s, authority: to, term: s.term + 1n, role: "replica" });
    return { ok: true, term: s.term + 1n };
  }
  async roomAuthority(roomId: bigint): Promise<RoomAuthorityStatus | undefined> {
    return this.rooms.get(roomId);
  }
}

async function setup() {
  const env = await moderatedEnv({});
  const federation = new FakeFederation();
  const counted: string[] = [];
  const api = new AdminApi({
    moderation: env.moderation,
    token: () => TOKEN,
    clock: env.time,
    authority: { federation, counted: (r) => counted.push(r) },
  });
  return { env, api, federation, counted };
}

describe("admin API: room authority", () => {
  it("shows a federated room's authority; 404 for a room that is not federated here", async () => {
    const { api } = await setup();
    expect(await api.handle(req("GET", "/admin/rooms/7/authority"))).toEqual({
      status: 200,
      body: { room: "7", authority: "a.example", term: "2", role: "sequencer", commit_index: "41" },
    });
    expect((await api.handle(req("GET", "/admin/rooms/0x9/authority"))).body).toMatchObject({
      authority: "b.example",
      role: "replica",
    });
    const none = await api.handle(req("GET", "/admin/rooms/5/authority"));
    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ error: "UNKNOWN_ROOM" });
  });

  it("transfers, maps refusals to statuses, audits every request, counts by result", async () => {
    const { env, api, federation, counted } = await setup();
    const moved = await api.handle(
      req("POST", "/admin/rooms/transfer", { room: "7", to: "B.example", reason: "maintenance" }),
    );
    expect(moved).toEqual({
      status: 200,
      body: { ok: true, room: "7", to: "b.example", term: "3" },
    });
    const cases: [unknown, number, string][] = [
      [{ room: "7", to: "c.example" }, 409, "NOT_AUTHORITY"], // moved away already
      [{ room: "9", to: "c.example" }, 409, "NOT_AUTHORITY"],
      [{ room: "5", to: "b.example" }, 404, "UNKNOWN_ROOM"],
    ];
    for (const [body, status, error] of cases) {
      const r = await api.handle(req("POST", "/admin/rooms/transfer", body));
      expect(r.status).toBe(status);
      expect(r.body).toMatchObject({ ok: false, error });
    }
    federation.rooms.set(8n, {
      authority: "a.example",
      term: 0n,
      role: "sequencer",
      commitIndex: 0n,
    });
    const stranger = await api.handle(
      req("POST", "/admin/rooms/transfer", { room: "8", to: "x.example" }),
    );
    expect(stranger).toMatchObject({ status: 404, body: { error: "PEER_NOT_CONFIGURED" } });
    const down = await api.handle(
      req("POST", "/admin/rooms/transfer", { room: "8", to: "c.example" }),
    );
    expect(down).toMatchObject({ status: 503, body: { error: "PEER_UNREACHABLE" } });
    // Malformed requests never reach the core.
    for (const body of [
      { room: "8" },
      { room: "8", to: "not a domain!" },
      { room: "-1", to: "b.example" },
    ]) {
      expect((await api.handle(req("POST", "/admin/rooms/transfer", body))).status).toBe(400);
    }
    expect(federation.asked).toHaveLength(6);
    expect(counted).toEqual([
      "ok",
      "NOT_AUTHORITY",
      "NOT_AUTHORITY",
      "UNKNOWN_ROOM",
      "PEER_NOT_CONFIGURED",
      "PEER_UNREACHABLE",
    ]);
    const records = env.storage.readAudit().filter((a) => a.kind === "room_transfer_requested");
    expect(records).toHaveLength(6);
    expect(records[0]).toMatchObject({
      actor: "admin:ops",
      roomId: 7n,
      detail: { to: "b.example", reason: "maintenance", result: "ok", term: "3" },
    });
    expect(records[1]?.detail).toMatchObject({ result: "NOT_AUTHORITY", message: "b.example is" });
  });

  it("is reachable over HTTP and through kalandrad admin rooms transfer|authority", async () => {
    const { api } = await setup();
    const m = await startMonitoring({
      host: "127.0.0.1",
      port: 0,
      registry: new Registry(),
      readiness: async () => ({ ready: true, failing: [], checks: {} }),
      adminToken: () => TOKEN,
      admin: api,
    });
    try {
      const base = `http://127.0.0.1:${m.port}`;
      const anon = await fetch(`${base}/admin/rooms/transfer`, {
        method: "POST",
        body: JSON.stringify({ room: "7", to: "b.example" }),
      });
      expect(anon.status).toBe(401);
      const common = ["--url", base, "--token", TOKEN];
      const moved = await runCli(["admin", "rooms", "transfer", "7", "b.example", ...common]);
      expect(moved.stderr).toBe("");
      expect(JSON.parse(moved.stdout)).toEqual({ ok: true, room: "7", to: "b.example", term: "3" });
      const shown = await runCli(["admin", "rooms", "authority", "7", ...common]);
      expect(JSON.parse(shown.stdout)).toMatchObject({ authority: "b.example", term: "3" });
      const refused = await runCli(["admin", "rooms", "transfer", "9", "c.example", ...common]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/NOT_AUTHORITY/);
    } finally {
      await new Promise<void>((r) => m.server.close(() => r()));
    }
  }, 60_000);
});
