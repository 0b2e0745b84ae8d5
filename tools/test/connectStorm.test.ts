/**
 * Connection admission under a connect storm, against a running kalandrad (issue 15): many
 * handshakes at once from one address, as one user, and over the whole hub; the caps
 * `max_connections_per_ip`, `max_sessions_per_user` and `max_connections` hold exactly (a
 * refusal is a TOO_MANY_CONNECTIONS ERROR), the hub keeps serving, and closed sessions give
 * their places back. Loopback only, bounded counts.
 */
import { type TempDir, tempDir } from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SpawnedHub, spawnHub } from "../loadgen/hub.js";
import { type IdleSessionOptions, IdleSessions } from "../loadgen/idleSessions.js";

let dir: TempDir;
let hub: SpawnedHub & { websocket: string };
const open: IdleSessions[] = [];

const CAPS = { total: 60, perIp: 25, perUser: 3 };

beforeAll(async () => {
  dir = tempDir("connect-storm");
  hub = (await spawnHub(dir.path, {
    KALANDRA_LIMITS__MAX_CONNECTIONS: String(CAPS.total),
    KALANDRA_LIMITS__MAX_CONNECTIONS_PER_IP: String(CAPS.perIp),
    KALANDRA_LIMITS__MAX_SESSIONS_PER_USER: String(CAPS.perUser),
    KALANDRA_SERVER__LOG_LEVEL: "info",
  })) as SpawnedHub & { websocket: string };
}, 60_000);

afterAll(async () => {
  for (const s of open) await s.close();
  await hub?.stop();
  dir?.cleanup();
});

/** `count` handshakes started at once (a storm), kept open. */
async function storm(count: number, o: Partial<IdleSessionOptions>) {
  const s = new IdleSessions();
  open.push(s);
  const report = await s.open({
    url: hub.websocket,
    count,
    addresses: ["127.0.0.2"],
    userPrefix: `u${open.length}-`,
    pingMs: 0,
    concurrency: count,
    handshakeTimeoutMs: 20_000,
    ...o,
  });
  return { s, report };
}

async function activeConnections(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`);
  const m = /^kalandra_connections_active (\d+)/m.exec(await res.text());
  return Number(m?.[1]);
}

/** Waits (bounded) until the hub has seen every earlier session close. */
async function drained(): Promise<void> {
  for (let i = 0; i < 200 && (await activeConnections()) > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(await activeConnections()).toBe(0);
}

describe("connect storm", () => {
  it("holds max_connections_per_ip for a storm from one address", async () => {
    const { s, report } = await storm(60, { addresses: ["127.0.0.2"] });
    expect(report.opened).toBe(CAPS.perIp);
    expect(report.refused).toEqual({ TOO_MANY_CONNECTIONS: 60 - CAPS.perIp });
    expect(report.failed).toBe(0);
    await s.close();
  });

  it("holds max_sessions_per_user for a storm of one user's devices", async () => {
    // 8 new devices: within auth.max_devices_per_user (10), so only the session cap refuses.
    const { s, report } = await storm(8, {
      addresses: ["127.0.0.3", "127.0.0.4"],
      userPrefix: "storm-user",
      sessionsPerUser: 8,
    });
    expect(report.opened).toBe(CAPS.perUser);
    expect(report.refused).toEqual({ TOO_MANY_CONNECTIONS: 8 - CAPS.perUser });
    await s.close();
  });

  it("binds no device for a session the per-user cap refuses, so the user keeps their device slots", async () => {
    // 14 new devices of one user, more than auth.max_devices_per_user (10): the refused
    // sessions must not bind their devices (they would run the user out of device slots).
    const first = await storm(14, {
      addresses: ["127.0.0.5", "127.0.0.6"],
      userPrefix: "slot-user",
      sessionsPerUser: 14,
    });
    expect(first.report.opened).toBe(CAPS.perUser);
    expect(first.report.refused).toEqual({ TOO_MANY_CONNECTIONS: 14 - CAPS.perUser });
    await first.s.close();
    await drained();
    // 3 devices bound so far: 7 more new ones still fit (3 at a time).
    for (let round = 0; round < 2; round++) {
      const again = await storm(CAPS.perUser, {
        addresses: ["127.0.0.7"],
        userPrefix: "slot-user",
        sessionsPerUser: CAPS.perUser,
      });
      expect(again.report.opened).toBe(CAPS.perUser);
      await again.s.close();
      await drained();
    }
  });

  it("holds max_connections for a storm over many addresses, then gives the places back", async () => {
    await drained();
    const addresses = Array.from({ length: 8 }, (_, i) => `127.0.1.${i + 1}`);
    const { s, report } = await storm(8 * 20, { addresses });
    expect(report.opened).toBe(CAPS.total);
    expect(report.refused).toEqual({ TOO_MANY_CONNECTIONS: 8 * 20 - CAPS.total });
    expect(await activeConnections()).toBe(CAPS.total);
    await s.close();
    // The hub noticed every close: an honest session gets in again.
    await drained();
    const after = await storm(1, { addresses: ["127.0.0.9"] });
    expect(after.report.opened).toBe(1);
    expect((await fetch(`http://127.0.0.1:${hub.monitoringPort}/readyz`)).status).toBe(200);
  });
});
