/**
 * The operator's commands as processes (docs/operations.md "Upgrading", "Re-sharding"):
 * `kalandrad start` over a copy of the format-1 fixture, `kalandrad admin reshard` refused
 * while that hub runs and done once it stopped, the hub started again on the new layout;
 * `kalandrad migrate`; a newer format refused by `kalandrad start` naming both versions.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FORMAT_FILE } from "../../src/storage/format.js";
import { runCli, startDaemon } from "../cli/proc.js";
import { expectedSnapshot, FIXTURE_USERS } from "../fixtures/dataV1.js";
import { tempDataDirs } from "./copies.js";
import { snapshotDataDir } from "./snapshot.js";

const dirs = tempDataDirs();
const copy = dirs.copy;

const env = { KALANDRA_SERVER__LOG_LEVEL: "info", KALANDRA_DATABASE__SYNC: "none" };

describe("kalandrad migrate and admin reshard", () => {
  it("reshard is refused while kalandrad runs, then moves the rooms; the hub restarts on them", async () => {
    const dir = copy();
    const hub = await startDaemon(dir, env);
    try {
      expect(hub.lines.find((l) => l.msg === "kalandrad ready")).toMatchObject({ shards: 2 });
      const refused = runCli(["admin", "reshard", "--shards", "3", "--data", dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `reshard failed: .* is in use by process ${hub.child.pid} \\(kalandrad start\\)`,
        ),
      );
    } finally {
      hub.child.kill("SIGTERM");
      await hub.exit;
    }
    // The first start recorded the format of the (unrecorded) fixture.
    expect(JSON.parse(readFileSync(join(dir, FORMAT_FILE), "utf8")).format).toBe(1);
    const done = runCli(["admin", "reshard", "--shards", "3", "--data", dir]);
    expect(done.stderr).toBe("");
    expect(done.code).toBe(0);
    const summary = JSON.parse(done.stdout.trim().split("\n").at(-1) ?? "{}");
    expect(summary).toMatchObject({ from: 2, to: 3, rooms: 6 });
    const again = await startDaemon(dir, env);
    try {
      expect(again.lines.find((l) => l.msg === "kalandrad ready")).toMatchObject({ shards: 3 });
    } finally {
      again.child.kill("SIGTERM");
      await again.exit;
    }
    expect((await snapshotDataDir(dir, FIXTURE_USERS)).rooms).toEqual(expectedSnapshot().rooms);
  }, 90_000);

  it("migrate records today's format on the fixture and changes nothing else", async () => {
    const dir = copy();
    const r = runCli(["migrate", "--data", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/recorded format 1 in .*format\.json/);
    expect(r.stdout).toMatch(/is at data format 1: nothing to migrate/);
    expect(JSON.parse(readFileSync(join(dir, FORMAT_FILE), "utf8"))).toEqual({
      format: 1,
      migrations: [],
    });
    expect(await snapshotDataDir(dir, FIXTURE_USERS)).toEqual(expectedSnapshot());
  }, 30_000);

  it("start refuses a newer format naming both versions (exit 1); --migrate cannot downgrade", () => {
    const dir = copy();
    writeFileSync(join(dir, FORMAT_FILE), `${JSON.stringify({ format: 2, migrations: [] })}\n`);
    for (const args of [["start"], ["start", "--migrate"]]) {
      const r = runCli(args, {
        KALANDRA_DATABASE__PATH: dir,
        KALANDRA_SERVER__LISTEN: "127.0.0.1:0",
        KALANDRA_SERVER__WEBSOCKET_LISTEN: "",
        KALANDRA_MONITORING__LISTEN: "",
      });
      expect(r.code).toBe(1);
      const failed = r.stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { msg: string; err?: string })
        .find((l) => l.msg === "start failed");
      expect(failed?.err).toMatch(/data format 2, newer than this kalandrad reads \(format 1\)/);
    }
    const m = runCli(["migrate", "--data", dir]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/migrate failed: .*data format 2/);
  }, 60_000);
});
