/** Daemon lifecycle in-process: restart keeps hub key and certificate, reload, [tls] files, echo core. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/runtime/node/daemon.js";
import { generateDevCertificate } from "../../src/runtime/node/devCert.js";
import { createLogger } from "../../src/runtime/node/logger.js";
import { readHeader } from "../../src/runtime/node/wire.js";
import { app, authed, device, isError, RawClient } from "./helpers.js";

function config(doc: Record<string, Record<string, unknown>>) {
  const r = buildConfig({
    ...doc,
    server: {
      listen: "127.0.0.1:0",
      websocket_listen: "127.0.0.1:0",
      log_level: "fatal",
      ...doc.server,
    },
    monitoring: { listen: "127.0.0.1:0", ...doc.monitoring },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

describe("Daemon", () => {
  it("keeps its hub key and development certificate across restarts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kalandra-daemon-"));
    const log = createLogger("fatal");
    const a = await Daemon.start({
      config: config({ database: { path: dir } }),
      log,
      core: "echo",
    });
    const key = a.hubPublicKey;
    const hash = a.certHash;
    expect(a.mode).toBe("http2");
    await a.shutdown("test");
    await a.shutdown("twice is harmless");
    const b = await Daemon.start({
      config: config({ database: { path: dir } }),
      log,
      core: "echo",
    });
    expect(b.hubPublicKey).toEqual(key);
    expect(b.certHash).toEqual(hash);
    await b.shutdown("test");
  });

  it("serves a configured [tls] certificate and applies reloaded limits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kalandra-daemon-tls-"));
    const c = generateDevCertificate();
    writeFileSync(join(dir, "c.pem"), c.cert);
    writeFileSync(join(dir, "k.pem"), c.key);
    const cfg = config({
      database: { path: join(dir, "data") },
      tls: { cert: join(dir, "c.pem"), key: join(dir, "k.pem") },
      server: { hub_key: join(dir, "hub.pem") },
    });
    const d = await Daemon.start({ config: cfg, log: createLogger("fatal"), core: "echo" });
    expect(d.certHash).toEqual(c.hash);
    const dev = device();
    const s = await authed(d.port, d.certHash, dev);
    await s.send(app(dev, 1));
    await s.waitFor((f) => readHeader(f).requestId === 1);

    const next = structuredClone(cfg);
    next.limits.max_connections = 1;
    next.server.log_level = "error";
    next.database.sync = "none";
    expect(d.reload(next)).toEqual({
      applied: ["server.log_level", "limits.max_connections"],
      needsRestart: ["database.sync"],
      tls: "unchanged",
    });
    const refused = await RawClient.connect(d.port, d.certHash);
    await refused.waitFor(isError("TOO_MANY_CONNECTIONS"));
    expect(d.reload(next)).toEqual({
      applied: [],
      needsRestart: ["database.sync"],
      tls: "unchanged",
    });
    s.close();
    await d.shutdown("test");
    expect(d.ready).toBe(false);
  });
});
