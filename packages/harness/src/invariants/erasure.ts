/**
 * erased_unrecoverable: an erased message's key is in no byte of any file, its payload
 * reads back as a tombstone, and the hub never serves it again (copies sent before the
 * erasure may still arrive late: the network cannot be recalled).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { World } from "../world.js";
import { hubLog } from "./hubLog.js";

/** An erasure the world made durable, for `erased_unrecoverable`. */
export interface ErasureRecord {
  roomId: bigint;
  logIndex: bigint;
  key: Uint8Array;
}

/** Checks every erasure the world made: no key bytes on disk, tombstones. */
export function checkErasures(w: World, erasures: readonly ErasureRecord[]): void {
  if (erasures.length === 0 || !w.hub.up) return;
  const files = listFiles(w.dir).map((p) => readFileSync(p));
  for (const e of erasures) {
    const f = hubLog(w, e.roomId)[Number(e.logIndex)];
    if (f !== undefined && f.payload !== null) {
      w.violation("erased_unrecoverable", `log_index ${e.logIndex} still reads back a payload`);
    }
    const key = Buffer.from(e.key);
    if (files.some((b) => b.indexOf(key) >= 0)) {
      w.violation("erased_unrecoverable", `the key of log_index ${e.logIndex} is still on disk`);
    }
  }
}

/** Every file below `dir` (paths). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}
