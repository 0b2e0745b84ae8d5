/**
 * The LMDB environments of a data directory as backup and restore see them: the hub's own
 * (`<data>`, named "main") and each worker shard's (`<data>/shard-<i>`), with the reads
 * both need on a snapshot: the vault's high-water mark, the live key slots, and each
 * room's last log_index.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { shardDirs } from "../../../runtime/node/shards/layout.js";
import { copyBytes, prefixEnd, readFrameKey, readRoomKey } from "../../keys.js";
import { readKeyRef, readU32, STATE_LIVE } from "../../slotRef.js";
import { DATA_FILE, type Env, META, openEnv, type Tables } from "../layout.js";

export interface DataEnv {
  name: string;
  /** Relative to the data directory ("" for the hub's own). */
  dir: string;
}

export function envsOf(dataDir: string): DataEnv[] {
  return [
    { name: "main", dir: "" },
    ...shardDirs(dataDir).map((i) => ({ name: `shard-${i}`, dir: `shard-${i}` })),
  ];
}

/**
 * Opens the environment in `dir`, runs `fn`, closes it. A read-only open of a copy creates
 * LMDB's lock file beside it; it is removed again so a backup directory keeps only the
 * files its manifest names.
 */
export async function withEnv<T>(
  dir: string,
  o: { readOnly: boolean; noSync?: boolean },
  fn: (env: Env) => T | Promise<T>,
): Promise<T> {
  const lock = join(dir, `${DATA_FILE}-lock`);
  const hadLock = existsSync(lock);
  const env = openEnv(dir, o);
  try {
    return await fn(env);
  } finally {
    await env.root.close();
    if (!hadLock) rmSync(lock, { force: true });
  }
}

export function vaultHwm(t: Tables): number {
  const v = t.meta.get(META.vaultHwm);
  return v === undefined ? 0 : readU32(v);
}

/** Every frame with a live key: its `headers` key and vault slot, in key order. */
export function* liveKeyRefs(t: Tables): Generator<{ key: Uint8Array; slot: number }> {
  for (const { key, value } of t.payload_keys.getRange()) {
    const k = copyBytes(key);
    const { state, slot } = readKeyRef(value, Buffer.from(k).toString("hex"));
    if (state === STATE_LIVE) yield { key: k, slot };
  }
}

/** Room id (32 hex digits) → last log_index ("-1" without frames), for the manifest. */
export function lastIndexes(t: Tables): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of t.rooms.getKeys()) {
    const room = copyBytes(raw);
    let last = -1n;
    for (const k of t.headers.getKeys({
      start: prefixEnd(room, 8),
      end: room,
      reverse: true,
      limit: 1,
    })) {
      last = readFrameKey(copyBytes(k)).logIndex;
    }
    out[readRoomKey(room).toString(16).padStart(32, "0")] = last.toString();
  }
  return out;
}
