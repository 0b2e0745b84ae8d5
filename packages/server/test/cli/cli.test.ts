import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./proc.js";

const tmp = tempDir("cli");
const dir = tmp.path;
afterAll(() => tmp.cleanup());

describe("kalandrad CLI", () => {
  it("version prints the package version", () => {
    const r = runCli(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kalandrad \d+\.\d+\.\d+\n$/);
  });

  it("--help lists the commands", () => {
    const r = runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["start", "validate-config", "version", "gen-dev-cert"])
      expect(r.stdout).toContain(c);
  });

  it("validate-config accepts no file and a good file (exit 0)", () => {
    expect(runCli(["validate-config"]).code).toBe(0);
    const good = join(dir, "good.toml");
    writeFileSync(good, '[server]\nlisten = "127.0.0.1:9999"\n[limits]\nmax_rooms = 5\n');
    const r = runCli(["validate-config", "--config", good, "--print"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).limits.max_rooms).toBe(5);
  });

  it("validate-config names each bad key and exits 1", () => {
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, '[limits]\nmax_connections = 0\n[monitoring]\nlisten = "x"\n');
    const r = runCli(["validate-config", "--config", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("limits.max_connections: must be at least 1");
    expect(r.stderr).toContain("monitoring.listen");
  });

  it("validate-config refuses a bad environment override", () => {
    const r = runCli(["validate-config"], { KALANDRA_SERVER__SHARDS: "many" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("server.shards");
  });

  it("start refuses an invalid configuration with exit 1", () => {
    const r = runCli(["start"], { KALANDRA_LIMITS__MAX_PAYLOAD_BYTES: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("limits.max_payload_bytes");
  });

  it("unknown commands are usage errors (exit 2)", () => {
    expect(runCli(["frobnicate"]).code).toBe(2);
  });

  it("gen-dev-cert writes a P-256 certificate valid for less than 14 days and prints its hash", () => {
    const out = join(dir, "cert");
    const r = runCli(["gen-dev-cert", "--out", out]);
    expect(r.code).toBe(0);
    const x = new X509Certificate(readFileSync(join(out, "cert.pem")));
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86400_000;
    expect(days).toBeLessThan(14);
    expect(r.stdout).toContain(`sha-256 ${x.fingerprint256.replaceAll(":", "").toLowerCase()}`);
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
  });

  it("default-config prints a file that validates", () => {
    const r = runCli(["default-config"]);
    const p = join(dir, "defaults.toml");
    writeFileSync(p, r.stdout);
    expect(runCli(["validate-config", "--config", p]).code).toBe(0);
  });
});
