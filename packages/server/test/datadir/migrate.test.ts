/**
 * Data format versions and migrations (issue 16, docs/operations.md "Upgrading"), on copies
 * of the committed format-1 fixture (test/fixtures/data-v1, made by makeDataV1.ts with the
 * code from before format.json existed).
 */

import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitUntil } from "@kalandra/test-support";
import { describe, expect, it } from "vitest";
import {
  acquireDataLock,
  DataLockError,
  LOCK_FILE,
} from "../../src/runtime/node/datadir/dataLock.js";
import { DataFormatError, readFormat } from "../../src/runtime/node/datadir/formatFile.js";
import { checkFormat, migrateDataDir } from "../../src/runtime/node/datadir/migrate.js";
import type { Migration } from "../../src/runtime/node/datadir/migrations.js";
import { openDataDir } from "../../src/runtime/node/datadir/openDataDir.js";
import { DATA_FORMAT_VERSION, FORMAT_FILE } from "../../src/storage/format.js";
import { expectedSnapshot, FIXTURE_USERS } from "../fixtures/dataV1.js";
import { tempDataDirs } from "./copies.js";
import { snapshotDataDir } from "./snapshot.js";

const dirs = tempDataDirs();
const copy = dirs.copy;

const emptyDir = dirs.empty;

const formatJson = (dir: string) => JSON.parse(readFileSync(join(dir, FORMAT_FILE), "utf8"));

/**
 * Two test steps over every storage directory: 2 writes a marker file in each, 3 appends a
 * line to it unless present. Both idempotent; `failOnce` throws after doing part of the work
 * (the first storage directory), as a crash mid-step would leave it.
 */
function testSteps(failOnce: { at?: number }): Migration[] {
  const marker = (d: string) => join(d, "migrated.txt");
  return [
    {
      to: 2,
      name: "mark every storage directory",
      async run(ctx) {
        for (const [i, d] of ctx.storageDirs.entries()) {
          if (!existsSync(marker(d))) writeFileSync(marker(d), "2\n");
          if (failOnce.at === 2 && i === 0) {
            failOnce.at = undefined;
            throw new Error("crash in step 2");
          }
        }
      },
    },
    {
      to: 3,
      name: "extend the marker",
      async run(ctx) {
        for (const d of ctx.storageDirs) {
          const text = readFileSync(marker(d), "utf8");
          if (!text.includes("3\n")) writeFileSync(marker(d), `${text}3\n`);
        }
      },
    },
  ];
}

describe("data format", () => {
  it("today's code is format 1, and a directory without format.json is format 1", () => {
    expect(DATA_FORMAT_VERSION).toBe(1);
    const dir = copy();
    expect(existsSync(join(dir, FORMAT_FILE))).toBe(false);
    expect(readFormat(dir)).toEqual({ format: 1, migrations: [], recorded: false });
  });

  it("the first start records the format; an unrecorded format-1 directory gets it too", async () => {
    for (const dir of [emptyDir(), copy()]) {
      const lock = await openDataDir(dir);
      lock.release();
      expect(formatJson(dir)).toEqual({ format: DATA_FORMAT_VERSION, migrations: [] });
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    }
  });

  it("start --migrate brings the directory to today's format before anything opens it", async () => {
    const dir = copy();
    const lines: string[] = [];
    const lock = await openDataDir(dir, { migrate: true, log: (m) => lines.push(m) });
    lock.release();
    expect(formatJson(dir)).toEqual({ format: DATA_FORMAT_VERSION, migrations: [] });
    expect(lines.some((l) => l.startsWith("recorded format 1"))).toBe(true);
  });

  it("a newer format is refused at start with a message naming both versions", async () => {
    const dir = copy();
    writeFileSync(join(dir, FORMAT_FILE), `${JSON.stringify({ format: 7, migrations: [] })}\n`);
    const err = await openDataDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toMatch(
      /data format 7, newer than this kalandrad reads \(format 1\)/,
    );
    // Nothing was taken or changed: the lock is released, the record kept.
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(formatJson(dir).format).toBe(7);
    await expect(migrateDataDir(dir)).rejects.toThrow(/data format 7/);
  });

  it("an older format is refused unless migrated; migrate runs each step once, in order, recorded", async () => {
    const dir = copy();
    const steps = testSteps({});
    expect(() => checkFormat(dir, 3)).toThrow(
      /data format 1, this kalandrad needs format 3: back it up, then run `kalandrad migrate`/,
    );
    const lines: string[] = [];
    const r = await migrateDataDir(dir, { steps, target: 3, log: (m) => lines.push(m) });
    expect(r).toEqual({ from: 1, to: 3, applied: [steps[0]?.name, steps[1]?.name] });
    const rec = formatJson(dir);
    expect(rec.format).toBe(3);
    expect(rec.migrations.map((m: { to: number }) => m.to)).toEqual([2, 3]);
    expect(rec.migrating).toBeUndefined();
    for (const d of [dir, join(dir, "shard-0"), join(dir, "shard-1")]) {
      expect(readFileSync(join(d, "migrated.txt"), "utf8")).toBe("2\n3\n");
    }
    expect(lines.some((l) => l.startsWith("format 1 → 2"))).toBe(true);
    expect(() => checkFormat(dir, 3)).not.toThrow();
    // Running it again does nothing.
    expect((await migrateDataDir(dir, { steps, target: 3 })).applied).toEqual([]);
    // The data is untouched by these steps: the fixture still reads back whole.
    expect(await snapshotDataDir(dir, FIXTURE_USERS)).toEqual(expectedSnapshot());
  });

  it("a migration interrupted mid-step is refused at start and finished by the next run", async () => {
    const dir = copy();
    const fail = { at: 2 as number | undefined };
    const steps = testSteps(fail);
    await expect(migrateDataDir(dir, { steps, target: 3 })).rejects.toThrow("crash in step 2");
    const rec = formatJson(dir);
    expect(rec.format).toBe(1);
    expect(rec.migrating).toMatchObject({ to: 2 });
    expect(() => checkFormat(dir, 3)).toThrow(/migration to format 2 .* was interrupted/);
    const lines: string[] = [];
    const r = await migrateDataDir(dir, { steps, target: 3, log: (m) => lines.push(m) });
    expect(r.applied).toHaveLength(2);
    expect(lines.some((l) => l.includes("resuming an interrupted run"))).toBe(true);
    expect(formatJson(dir).format).toBe(3);
    // The step that ran twice over its own partial result left one marker, not two.
    expect(readFileSync(join(dir, "migrated.txt"), "utf8")).toBe("2\n3\n");
  });

  it("a gap in the steps is refused before anything changes", async () => {
    const dir = copy();
    const steps = testSteps({}).filter((s) => s.to === 3);
    await expect(migrateDataDir(dir, { steps, target: 3 })).rejects.toThrow(
      /no migration to format 2/,
    );
    expect(existsSync(join(dir, FORMAT_FILE))).toBe(false);
  });
});

describe("the data directory's lock", () => {
  it("one holder at a time; a holder in this process may re-enter only when asked", () => {
    const dir = emptyDir();
    const a = acquireDataLock(dir, "kalandrad start");
    expect(() => acquireDataLock(dir, "reshard")).toThrow(DataLockError);
    expect(() => acquireDataLock(dir, "reshard")).toThrow(
      /in use by process \d+ \(kalandrad start\)/,
    );
    const again = acquireDataLock(dir, "kalandrad start", { reentrant: true });
    again.release();
    a.release();
    acquireDataLock(dir, "reshard").release();
  });

  it("a stale lock (its process is gone) is taken over", () => {
    const dir = emptyDir();
    // A pid that cannot be running: beyond the kernel's pid_max.
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: 2 ** 30, purpose: "kalandrad start" }),
    );
    const l = acquireDataLock(dir, "migrate");
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).purpose).toBe("migrate");
    l.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it("a lock naming a live pid that started at another time (a recycled pid) is stale", () => {
    const dir = emptyDir();
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.pid, start: "1", purpose: "kalandrad start" }),
    );
    acquireDataLock(dir, "migrate").release();
  });

  it("a lock held by a zombie (exited, never reaped by its parent) is stale", async () => {
    const dir = emptyDir();
    // sh starts `sleep 0.2` in the background, prints its pid, then becomes `sleep 30`,
    // which never waits for it: once it exits, the child stays a zombie.
    const parent = spawn("sh", ["-c", "sleep 0.2 & echo $!; exec sleep 30"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const pid = Number(
        await new Promise<string>((r) => parent.stdout.once("data", (d: Buffer) => r(String(d)))),
      );
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, purpose: "kalandrad start" }));
      expect(() => acquireDataLock(dir, "migrate")).toThrow(DataLockError);
      await waitUntil(
        () => readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "),
        "the child to be a zombie",
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      acquireDataLock(dir, "migrate").release();
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
