/** The commander program in-process (the spawn tests in cli.test.ts cover exit codes). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildProgram, version } from "../../src/cli/program.js";
import { renderConfigDocs } from "../../src/config/docs.js";

function run(...args: string[]): Promise<string> {
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  return buildProgram()
    .parseAsync(["node", "kalandrad", ...args])
    .then(() => out);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("kalandrad program", () => {
  it("prints the version of the server package", async () => {
    expect(await run("version")).toBe(`kalandrad ${version()}\n`);
  });

  it("validate-config --print shows the effective configuration with secrets redacted", async () => {
    vi.stubEnv("KALANDRA_MONITORING__ADMIN_TOKEN", "hunter2");
    const out = await run("validate-config", "--print");
    vi.unstubAllEnvs();
    expect(out).toContain("configuration ok (defaults)");
    expect(out).not.toContain("hunter2");
    expect(out).toContain("<redacted>");
  });

  it("config-docs prints the generated reference and default-config the TOML", async () => {
    expect(await run("config-docs")).toBe(renderConfigDocs());
    expect(await run("default-config")).toContain('listen = "127.0.0.1:4433"');
  });

  it("gen-dev-cert writes cert.pem and key.pem", async () => {
    const tmp = tempDir("prog");
    const dir = tmp.path;
    const out = await run("gen-dev-cert", "--out", dir, "--host", "example.test");
    expect(out).toMatch(/sha-256 [0-9a-f]{64}/);
    expect(readFileSync(join(dir, "cert.pem"), "utf8")).toContain("BEGIN CERTIFICATE");
    tmp.cleanup();
  });
});
