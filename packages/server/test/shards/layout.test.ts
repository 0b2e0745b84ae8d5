/**
 * The shard layout of a data directory (shards/layout.ts): recorded at the first start,
 * a worker directory reopens only with its shard count (or 0) and runtime, an in-process
 * directory holding rooms is not taken over by worker shards; each refusal names the key.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TempDir, tempDir } from "@kalandra/test-support";
import { afterAll, describe, expect, it } from "vitest";
import {
  LAYOUT_FILE,
  readShardLayout,
  resolveShardLayout,
  ShardLayoutError,
  shardDirs,
} from "../../src/runtime/node/shards/layout.js";

const dirs: TempDir[] = [];
const fresh = () => {
  const d = tempDir("layout");
  dirs.push(d);
  return d.path;
};
afterAll(() => {
  for (const d of dirs) d.cleanup();
});

const NEW = { defaultShards: 4, rootHasRooms: false };

describe("shard layout", () => {
  it("records the layout of a new directory: 0 means one shard per core", () => {
    const d = fresh();
    expect(resolveShardLayout(d, { runtime: "worker", shards: 0 }, NEW)).toEqual({
      runtime: "worker",
      shards: 4,
    });
    expect(JSON.parse(readFileSync(join(d, LAYOUT_FILE), "utf8"))).toEqual({
      runtime: "worker",
      shards: 4,
    });
    // Reopened with 0 or the same count: the recorded count, whatever the core count now.
    const later = { defaultShards: 16, rootHasRooms: false };
    expect(resolveShardLayout(d, { runtime: "worker", shards: 0 }, later).shards).toBe(4);
    expect(resolveShardLayout(d, { runtime: "worker", shards: 4 }, later).shards).toBe(4);
  });

  it("refuses another shard count, naming server.shards", () => {
    const d = fresh();
    resolveShardLayout(d, { runtime: "worker", shards: 2 }, NEW);
    expect(() => resolveShardLayout(d, { runtime: "worker", shards: 3 }, NEW)).toThrow(
      /server\.shards = 3, but .* holds 2 worker shards.*set server\.shards = 2 or 0/,
    );
  });

  it("refuses to switch runtimes once rooms may exist, naming server.shard_runtime", () => {
    const w = fresh();
    resolveShardLayout(w, { runtime: "worker", shards: 2 }, NEW);
    expect(() => resolveShardLayout(w, { runtime: "in-process", shards: 0 }, NEW)).toThrow(
      /server\.shard_runtime = "worker"/,
    );
    // An in-process directory (or one from before worker shards) with rooms in its storage.
    const p = fresh();
    expect(
      resolveShardLayout(p, { runtime: "in-process", shards: 0 }, { ...NEW, rootHasRooms: true }),
    ).toEqual({ runtime: "in-process", shards: 1 });
    expect(() =>
      resolveShardLayout(p, { runtime: "worker", shards: 0 }, { ...NEW, rootHasRooms: true }),
    ).toThrow(/server\.shard_runtime = "in-process"/);
    const old = fresh();
    expect(() =>
      resolveShardLayout(old, { runtime: "worker", shards: 0 }, { ...NEW, rootHasRooms: true }),
    ).toThrow(ShardLayoutError);
    // Without rooms an in-process directory may become a worker one.
    const empty = fresh();
    resolveShardLayout(empty, { runtime: "in-process", shards: 0 }, NEW);
    expect(resolveShardLayout(empty, { runtime: "worker", shards: 2 }, NEW)).toEqual({
      runtime: "worker",
      shards: 2,
    });
    expect(readShardLayout(empty)).toEqual({ runtime: "worker", shards: 2 });
  });

  it("refuses shard directories without a recorded layout, and a malformed one", () => {
    const d = fresh();
    mkdirSync(join(d, "shard-0"));
    mkdirSync(join(d, "shard-1"));
    expect(shardDirs(d)).toEqual([0, 1]);
    expect(() => resolveShardLayout(d, { runtime: "worker", shards: 2 }, NEW)).toThrow(
      /shard-0, shard-1.*no shards\.json/,
    );
    const bad = fresh();
    writeFileSync(join(bad, LAYOUT_FILE), '{"runtime":"threads","shards":2}');
    expect(() => readShardLayout(bad)).toThrow(ShardLayoutError);
  });
});
