/**
 * Against a running kalandrad process (`start --core echo`): bad input from one session
 * gets its error and never disturbs the others; /healthz, /readyz, /metrics; SIGHUP
 * reload; SIGTERM drains and exits 0 in bounded time with storage flushed.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAGIC, readHeader } from "../../src/runtime/node/wire.js";
import { type Daemon, startDaemon } from "../cli/proc.js";
import { app, authed, device, isError, RawClient } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "kalandrad-proc-"));
const configPath = join(dir, "kalandrad.toml");
let d: Daemon;
let certHash: Uint8Array;

beforeAll(async () => {
  writeFileSync(
    configPath,
    "[limits]\nconnection_rate = 100\nconnection_burst = 100\nmax_payload_bytes = 65536\n",
  );
  d = await startDaemon(join(dir, "data"), {}, ["--config", configPath, "--core", "echo"]);
  certHash = Uint8Array.from(Buffer.from(d.ready.cert_sha256, "hex"));
}, 60_000);

afterAll(async () => {
  if (d.child.exitCode === null) d.child.kill("SIGKILL");
});

const mon = (path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${d.ready.monitoring_port}${path}`, { headers });

describe("kalandrad process", () => {
  it("logs JSON lines only, with the transport mode", () => {
    expect(d.lines.filter((l) => String(l.msg).startsWith("NON-JSON"))).toEqual([]);
    expect(d.lines.find((l) => l.msg === "webtransport listening")?.mode).toBe("http2");
  });

  it("serves /healthz and /readyz", async () => {
    expect((await mon("/healthz")).status).toBe(200);
    expect((await mon("/readyz")).status).toBe(200);
    expect((await mon("/nope")).status).toBe(404);
  });

  it("each bad input gets its error; a bystander session keeps working", async () => {
    const bystander = device();
    const good = await authed(d.ready.port, certHash, bystander);

    const g = await RawClient.connect(d.ready.port, certHash);
    await g.send(Buffer.alloc(300, 0x5a)); // garbage before auth
    await g.waitFor(isError("BAD_MAGIC"));
    await g.waitClosed();

    const dev = device();
    const m = await authed(d.ready.port, certHash, dev);
    const f = app(dev, 1);
    new DataView(f.buffer).setUint32(0, MAGIC + 1);
    await m.send(f);
    await m.waitFor(isError("BAD_MAGIC"));

    const dev2 = device();
    const o = await authed(d.ready.port, certHash, dev2);
    const big = app(dev2, 2);
    new DataView(big.buffer).setUint32(60, 65537);
    await o.send(big);
    await o.waitFor(isError("PAYLOAD_TOO_LARGE"));

    const dev3 = device();
    const s = await authed(d.ready.port, certHash, dev3);
    const forged = app(dev3, 3);
    forged[70] = (forged[70] ?? 0) ^ 1;
    await s.send(forged);
    await s.waitFor(isError("BAD_SIGNATURE"));
    await s.send(app(bystander, 4)); // another device's sender_id
    await s.waitFor(isError("SENDER_MISMATCH"));
    await s.send(Buffer.concat(Array.from({ length: 300 }, (_, i) => app(dev3, 100 + i)))); // flood
    await s.waitFor(isError("RATE_LIMITED"));

    const t = await authed(d.ready.port, certHash, device());
    await t.send(app(dev3, 5).subarray(0, 100));
    await t.end();
    await t.waitFor(isError("TRUNCATED"));

    await good.send(app(bystander, 42));
    await good.waitFor((fr) => readHeader(fr).requestId === 42);
    good.close();
    s.close();
  });

  it("exposes Prometheus metrics with the rejections counted by code", async () => {
    const text = await (await mon("/metrics")).text();
    for (const name of [
      "kalandra_messages_sent_total",
      "kalandra_commit_duration_seconds",
      "kalandra_connections_active",
      "kalandra_room_members",
      "kalandra_storage_append_seconds",
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/kalandra_frames_rejected_total\{code="BAD_MAGIC"\} [1-9]/);
    expect(text).toMatch(/kalandra_frames_rejected_total\{code="RATE_LIMITED"\} [1-9]/);
  });

  it("SIGHUP reloads limits and log level and logs what changed", async () => {
    writeFileSync(
      configPath,
      '[server]\nlog_level = "debug"\n[limits]\nconnection_rate = 100\nconnection_burst = 100\nmax_payload_bytes = 65536\nmax_connections = 1\n[federation]\nmax_hops = 2\n',
    );
    d.child.kill("SIGHUP");
    const line = await d.waitLog(/^configuration reloaded$/);
    expect(line.applied).toEqual(["server.log_level", "limits.max_connections"]);
    expect(line.needs_restart).toEqual(["federation.max_hops"]);
    const a = await authed(d.ready.port, certHash, device());
    const b = await RawClient.connect(d.ready.port, certHash);
    await b.waitFor(isError("TOO_MANY_CONNECTIONS"));
    a.close();
  });

  it("SIGTERM stops accepting, drains, flushes storage and exits 0 in bounded time", async () => {
    const t0 = Date.now();
    d.child.kill("SIGTERM");
    const { code } = await d.exit;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(d.lines.some((l) => l.msg === "shutdown complete: storage flushed")).toBe(true);
  });
});
