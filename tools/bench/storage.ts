/**
 * `pnpm bench storage`: the LMDB storage of @kalandra/server with real fsyncs (DESIGN §5).
 *
 * - append_msgs_per_s_batch_{1,64,512}: frames per second when `append` is called with
 *   batches of that size, one call in flight at a time (as the sequencer's group commit
 *   does); each call seals every payload under its own key, writes and fdatasyncs the key
 *   vault, then commits and flushes one LMDB transaction.
 * - append_msgs_per_s_concurrent_1: 512 single-frame `append` calls in flight at once
 *   (lmdb-js batches them into one transaction, the vault syncs are shared).
 * - secure_delete_ms_p50/p99: one `secureDelete` at a time (two LMDB commits, one vault
 *   fdatasync), goal ≤ 12 ms.
 * - baseline_*: the same machine's cost without our design: one LMDB transaction of the
 *   same rows with the payload in clear and no vault (append), and one bare fdatasync of a
 *   small file (delete). The ratios are what survives a noisy machine.
 *
 * Prints one JSON object on its last line. BENCH_QUICK=1 runs a few-second smoke version.
 */

import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@kalandra/test-support";
import { openEnv } from "../../packages/server/src/storage/lmdb/layout.js";
import {
  type LmdbStorage,
  openLmdbStorage,
} from "../../packages/server/src/storage/lmdb/lmdbStorage.js";
import type { AppendEntry } from "../../packages/server/src/storage/types.js";

const quick = process.env.BENCH_QUICK === "1";
const FRAMES = quick ? 1_024 : 30_000;
const DELETES = quick ? 60 : 1_000;
const PAYLOAD = new Uint8Array(200).fill(0x61);
const HEADER = new Uint8Array(128).fill(0x11);

function frame(room: bigint, index: bigint): AppendEntry {
  return {
    roomId: room,
    logIndex: index,
    header: HEADER,
    payload: PAYLOAD,
    senderId: 7n,
    requestId: Number(index & 0xffffffffn),
    response: HEADER,
    userId: "alice",
  };
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[i] ?? Number.NaN;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** Runs `fn` on a fresh LMDB storage in a temporary directory, then closes and removes both. */
async function withStorage<T>(fn: (s: LmdbStorage) => Promise<T>): Promise<T> {
  const tmp = tempDir("bench");
  const s = await openLmdbStorage({ path: tmp.path });
  try {
    return await fn(s);
  } finally {
    await s.close();
    tmp.cleanup();
  }
}

async function appendRate(batch: number): Promise<number> {
  return withStorage(async (s) => {
    let next = 0n;
    // Batches of one are fsync-bound: fewer of them measure the same rate.
    const frames =
      batch === 1 ? Math.min(FRAMES, quick ? 100 : 2_000) : Math.max(batch * 4, FRAMES);
    const t0 = performance.now();
    while (next < BigInt(frames)) {
      const entries: AppendEntry[] = [];
      for (let i = 0; i < batch; i++) entries.push(frame(1n, next++));
      await s.append(entries);
    }
    return Number(next) / ((performance.now() - t0) / 1000);
  });
}

async function concurrentRate(inFlight: number): Promise<number> {
  return withStorage(async (s) => {
    let next = 0n;
    const t0 = performance.now();
    while (next < BigInt(FRAMES)) {
      const calls: Promise<void>[] = [];
      for (let i = 0; i < inFlight; i++) calls.push(s.append([frame(1n, next++)]));
      await Promise.all(calls);
    }
    return Number(next) / ((performance.now() - t0) / 1000);
  });
}

async function baselineAppendRate(batch: number, frames: number): Promise<number> {
  const tmp = tempDir("bench");
  const dir = tmp.path;
  // The same LMDB file settings as the storage, through its own opener.
  const { root, tables } = openEnv(dir);
  const { headers, payloads } = tables;
  try {
    let next = 0;
    const t0 = performance.now();
    while (next < frames) {
      const start = next;
      next += batch;
      await root.transaction(() => {
        for (let i = start; i < start + batch; i++) {
          const k = new Uint8Array(24);
          new DataView(k.buffer).setUint32(20, i);
          headers.putSync(k, HEADER);
          payloads.putSync(k, PAYLOAD);
        }
      });
      await root.flushed;
    }
    return next / ((performance.now() - t0) / 1000);
  } finally {
    await root.close();
    tmp.cleanup();
  }
}

async function deleteLatencies(): Promise<number[]> {
  return withStorage(async (s) => {
    const n = DELETES;
    for (let at = 0; at < n; at += 512) {
      const entries: AppendEntry[] = [];
      for (let i = at; i < Math.min(n, at + 512); i++) entries.push(frame(2n, BigInt(i)));
      await s.append(entries);
    }
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      // Spread over the log, as moderation does, rather than walking it in order.
      const index = BigInt((i * 7919) % n);
      const t0 = performance.now();
      const ok = await s.secureDelete(2n, index);
      ms.push(performance.now() - t0);
      if (!ok) throw new Error(`nothing erased at ${index}`);
    }
    return ms.sort((a, b) => a - b);
  });
}

function baselineFsyncMs(): number[] {
  const tmp = tempDir("bench");
  const dir = tmp.path;
  const fd = openSync(join(dir, "f"), "w+");
  const ms: number[] = [];
  try {
    for (let i = 0; i < DELETES; i++) {
      const t0 = performance.now();
      writeSync(fd, PAYLOAD.subarray(0, 32), 0, 32, (i % 64) * 32);
      fdatasyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    tmp.cleanup();
  }
  return ms.sort((a, b) => a - b);
}

const result: Record<string, number | boolean> = { quick };
for (const batch of [1, 64, 512]) {
  result[`append_msgs_per_s_batch_${batch}`] = Math.round(await appendRate(batch));
}
result.append_msgs_per_s_concurrent_1 = Math.round(await concurrentRate(512));
result.baseline_lmdb_put_msgs_per_s_batch_1 = Math.round(
  await baselineAppendRate(1, quick ? 100 : 2_000),
);
result.baseline_lmdb_put_msgs_per_s_batch_512 = Math.round(await baselineAppendRate(512, FRAMES));
const del = await deleteLatencies();
result.secure_delete_ms_p50 = round(percentile(del, 50));
result.secure_delete_ms_p99 = round(percentile(del, 99));
const fsync = baselineFsyncMs();
result.baseline_fdatasync_ms_p50 = round(percentile(fsync, 50), 3);
result.baseline_fdatasync_ms_p99 = round(percentile(fsync, 99), 3);
result.append_ratio_batch_512_vs_baseline = round(
  (result.append_msgs_per_s_batch_512 as number) /
    (result.baseline_lmdb_put_msgs_per_s_batch_512 as number),
  3,
);
for (const [k, v] of Object.entries(result)) if (k !== "quick") console.error(`${k}: ${v}`);
console.log(JSON.stringify(result));
