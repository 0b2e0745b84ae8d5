/**
 * `kalandrad backup create|verify` and `kalandrad restore` (cli/backup.ts): the commander
 * program in-process for the happy path, the real bin for exit codes and messages.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { runCli } from "../cli/proc.js";
import { tempDir } from "../storage/helpers.js";
import { HubDir, type Message } from "./fixture.js";

const tmp = tempDir("backup-cli");
const data = join(tmp.path, "data");
const key = join(tmp.path, "backup.key");

async function run(...args: string[]): Promise<{ out: string; err: string }> {
  let out = "";
  let err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  await buildProgram().parseAsync(["node", "kalandrad", ...args]);
  return { out, err };
}

beforeAll(async () => {
  const hub = await HubDir.create(data, "cli");
  await hub.send(0, 7n, 4);
  await hub.send(1, 8n, 2);
  await hub.erase(hub.messages[1] as Message);
  await hub.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => tmp.cleanup());

describe("kalandrad backup and restore", () => {
  it("create, verify --key and restore, with the key file from the configuration", async () => {
    const out = join(tmp.path, "b1");
    const config = join(tmp.path, "k.toml");
    writeFileSync(config, `[database]\npath = "${data}"\n[backup]\nkey_file = "${key}"\n`);
    const made = await run("backup", "create", out, "--config", config);
    expect(made.out).toMatch(
      /backup [0-9a-f]{32} written to .*: 2 rooms, [\d.]+ MB, 1 erasures in its journal/,
    );
    expect(made.err).toContain("created the backup key file");
    expect(readFileSync(key, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await run("backup", "verify", out)).out).toContain("sealed contents not opened");
    expect((await run("backup", "verify", out, "--key", key)).out).toMatch(
      /ok: 2 rooms, .*5 payloads opened/,
    );
    const into = join(tmp.path, "restored");
    const r = await run("restore", out, "--data", into, "--key", key);
    expect(r.out).toContain(`restored backup`);
    const s = await openLmdbStorage({ path: join(into, "shard-0"), noSync: true });
    try {
      expect(s.readRange(7n, 0n, 10).map((f) => f.payload === null)).toEqual([
        false,
        true,
        false,
        false,
      ]);
    } finally {
      await s.close();
    }
  });

  it("exit codes: 2 without a key file, 1 naming the refusal", () => {
    const none = runCli(["backup", "create", join(tmp.path, "b2"), "--data", data]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("pass --key FILE or set [backup] key_file");
    const bad = runCli(["restore", join(tmp.path, "b1"), "--data", data, "--key", key]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^NOT_EMPTY: .* is not empty/);
    const missing = runCli(["backup", "verify", join(tmp.path, "nothing")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^MISSING: .*holds no manifest.json/);
  });
});
