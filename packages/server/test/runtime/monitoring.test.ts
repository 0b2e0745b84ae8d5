import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/runtime/node/metrics.js";
import { startMonitoring } from "../../src/runtime/node/monitoring.js";
import { evaluateReadiness } from "../../src/runtime/node/readiness.js";
import { drainingCheck } from "../../src/runtime/node/readinessChecks.js";

let ready = true;
let token = "";
const metrics = createMetrics({ defaultMetrics: false });
let m: Awaited<ReturnType<typeof startMonitoring>>;
const url = (p: string) => `http://127.0.0.1:${m.port}${p}`;

beforeAll(async () => {
  m = await startMonitoring({
    host: "127.0.0.1",
    port: 0,
    registry: metrics.registry,
    readiness: () => evaluateReadiness([drainingCheck(() => ready)]),
    adminToken: () => token,
  });
});
afterAll(() => new Promise<void>((r) => m.server.close(() => r())));

describe("monitoring listener", () => {
  it("answers /healthz and /readyz, 503 naming the failing check while draining", async () => {
    expect((await fetch(url("/healthz"))).status).toBe(200);
    const ok = await fetch(url("/readyz"));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/json");
    expect(await ok.json()).toEqual({ status: "ready", checks: { draining: { ok: true } } });
    ready = false;
    const no = await fetch(url("/readyz"));
    expect(no.status).toBe(503);
    expect(await no.json()).toEqual({
      status: "not_ready",
      failing: ["draining"],
      checks: { draining: { ok: false, reason: "draining: shutting down" } },
    });
    // Liveness is not readiness: the process still answers.
    expect((await fetch(url("/healthz"))).status).toBe(200);
    ready = true;
  });

  it("serves Prometheus text, behind a bearer token when one is set", async () => {
    metrics.messagesSent.inc(3);
    const open = await fetch(url("/metrics"));
    expect(open.status).toBe(200);
    expect(await open.text()).toContain("kalandra_messages_sent_total 3");
    token = "t0ken";
    expect((await fetch(url("/metrics"))).status).toBe(401);
    expect(
      (await fetch(url("/metrics"), { headers: { authorization: "Bearer wrong" } })).status,
    ).toBe(401);
    expect(
      (await fetch(url("/metrics"), { headers: { authorization: "Bearer t0ken" } })).status,
    ).toBe(200);
    token = "";
  });

  it("refuses other paths and methods", async () => {
    expect((await fetch(url("/nope"))).status).toBe(404);
    expect((await fetch(url("/healthz"), { method: "POST" })).status).toBe(405);
  });
});
