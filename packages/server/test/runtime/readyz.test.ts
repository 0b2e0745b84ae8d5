/**
 * /readyz against a running kalandrad (hub core, two worker shards): ready with every check
 * named; not ready, naming `storage`, while the disk refuses writes (the process's file-size
 * limit set to 0 from outside with prlimit(1): every write then fails with EFBIG, as on a
 * full or read-only disk), and ready again once it takes them; not ready, naming
 * `peer_links`, while a required peer has no link (SIGHUP applies `required_peers`).
 * /healthz answers 200 throughout: liveness is not readiness. The `shards` and `draining`
 * checks against a running daemon are in readyzShards.test.ts.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Daemon, startDaemon, stopDaemon } from "../cli/proc.js";

const tmp = tempDir("readyz");
const configPath = join(tmp.path, "kalandrad.toml");
const PEERS = `[[federation.peers]]\ndomain = "beta.example"\nurl = "ws://127.0.0.1:1/kalandra"\nhub_key = "${"0b".repeat(32)}"\n`;
let d: Daemon;

interface Readyz {
  status: number;
  body: {
    status: string;
    failing?: string[];
    checks: Record<string, { ok: boolean; reason?: string }>;
  };
}

async function readyz(): Promise<Readyz> {
  const r = await fetch(`http://127.0.0.1:${d.ready.monitoring_port}/readyz`);
  return { status: r.status, body: (await r.json()) as Readyz["body"] };
}

/** Polls /readyz (bounded) until it answers `status`; probes are cached for a second. */
async function readyzUntil(status: number, ms = 15_000): Promise<Readyz> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await readyz();
    if (r.status === status) return r;
    if (Date.now() > until) throw new Error(`/readyz still ${r.status}: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

const healthz = async () =>
  (await fetch(`http://127.0.0.1:${d.ready.monitoring_port}/healthz`)).status;

/** Sets the soft limit only (the hard one stays unlimited, so the test can lift it again). */
function setFileSizeLimit(pid: number, soft: string): void {
  const r = spawnSync("prlimit", ["--pid", String(pid), `--fsize=${soft}:unlimited`], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`prlimit failed: ${r.stderr}`);
}

beforeAll(async () => {
  writeFileSync(configPath, PEERS);
  d = await startDaemon(join(tmp.path, "data"), { KALANDRA_SERVER__SHARDS: "2" }, [
    "--config",
    configPath,
  ]);
}, 60_000);

afterAll(async () => {
  await stopDaemon(d);
  tmp.cleanup();
});

describe("kalandrad /readyz", () => {
  it("is ready with every check named and passing", async () => {
    const r = await readyz();
    expect(r).toEqual({
      status: 200,
      body: {
        status: "ready",
        checks: {
          draining: { ok: true },
          storage: { ok: true },
          shards: { ok: true },
          peer_links: { ok: true },
        },
      },
    });
  });

  it("fails naming storage while the disk refuses writes, and recovers", async () => {
    const pid = d.child.pid as number;
    setFileSizeLimit(pid, "0");
    try {
      const r = await readyzUntil(503);
      expect(r.body.failing).toEqual(["storage"]);
      expect(r.body.checks.storage).toEqual({
        ok: false,
        reason: "not writable: data: EFBIG, shard-0: EFBIG, shard-1: EFBIG",
      });
      expect(await healthz()).toBe(200);
    } finally {
      setFileSizeLimit(pid, "unlimited");
    }
    expect((await readyzUntil(200)).body.checks.storage).toEqual({ ok: true });
  }, 30_000);

  it("fails naming peer_links while a required peer has no link (SIGHUP applies it)", async () => {
    writeFileSync(configPath, `[monitoring]\nrequired_peers = ["beta.example"]\n${PEERS}`);
    d.child.kill("SIGHUP");
    const r = await readyzUntil(503);
    expect(r.body.failing).toEqual(["peer_links"]);
    expect(r.body.checks.peer_links).toEqual({
      ok: false,
      reason: "required peer links down: beta.example not connected",
    });
    expect(await healthz()).toBe(200);
    writeFileSync(configPath, PEERS);
    d.child.kill("SIGHUP");
    await readyzUntil(200);
  }, 30_000);
});
