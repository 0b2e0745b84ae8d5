/**
 * kalandrad's readiness checks (readiness.ts), one per way the hub can be up but unable to
 * serve: `draining` (SIGTERM received), `storage` (a data directory refuses writes),
 * `shards` (a shard worker stopped or does not answer), `peer_links` (a required federation
 * peer's link is down). docs/operations.md "Health" lists them for operators.
 */
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { PeerLinkSource } from "./peerLinks.js";
import type { CheckResult, ReadinessCheck } from "./readiness.js";

export function drainingCheck(accepting: () => boolean): ReadinessCheck {
  return {
    name: "draining",
    run: () => (accepting() ? { ok: true } : { ok: false, reason: "draining: shutting down" }),
  };
}

/** The probe file's name; removed right after each probe. */
export const PROBE_FILE = ".readyz-probe";
/** One page: a write the disk must actually find room for. */
const PROBE_BYTES = 4096;

/**
 * Creates, writes, fsyncs and removes a small file in `dir`: what an LMDB commit needs of
 * the filesystem (room for a page, a writable mount, a working fsync). LMDB writes through
 * file descriptors opened at start, so the directory's permissions alone would prove
 * nothing; a full disk, a read-only remount, an I/O error or a file-size limit fail both
 * this probe and the hub's next commit. Throws the filesystem's error.
 */
export async function probeWritable(dir: string): Promise<void> {
  const path = join(dir, PROBE_FILE);
  const f = await open(path, "w", 0o600);
  try {
    await f.write(new Uint8Array(PROBE_BYTES));
    await f.sync();
  } finally {
    await f.close();
    await unlink(path).catch(() => undefined);
  }
}

/**
 * Every storage directory of the hub (`database.path` and each worker shard's `shard-<i>`)
 * takes a synced write. The reason names the directory by label and the error code, not by
 * path: /readyz answers anyone who can reach the monitoring listener.
 */
export function storageCheck(
  dirs: readonly { label: string; path: string }[],
  probe: (dir: string) => Promise<void> = probeWritable,
): ReadinessCheck {
  return {
    name: "storage",
    async run(): Promise<CheckResult> {
      const failures = await Promise.all(
        dirs.map(({ label, path }) =>
          probe(path).then(
            () => undefined,
            (e: NodeJS.ErrnoException) => `${label}: ${e.code ?? e.message ?? "write failed"}`,
          ),
        ),
      );
      const bad = failures.filter((f): f is string => f !== undefined);
      return bad.length === 0
        ? { ok: true }
        : { ok: false, reason: `not writable: ${bad.join(", ")}` };
    },
  };
}

/** What the shards check asks of a shard runtime (WorkerShards.liveness). */
export interface ShardLiveness {
  liveness(timeoutMs: number): Promise<{ index: number; ok: boolean; reason?: string }[]>;
}

/** How long a shard worker may take to answer a ping. */
export const SHARD_PING_TIMEOUT_MS = 2000;

export function shardsCheck(
  shards: ShardLiveness,
  timeoutMs = SHARD_PING_TIMEOUT_MS,
): ReadinessCheck {
  return {
    name: "shards",
    async run(): Promise<CheckResult> {
      const down = (await shards.liveness(timeoutMs)).filter((s) => !s.ok);
      if (down.length === 0) return { ok: true };
      return {
        ok: false,
        reason: down.map((s) => `shard ${s.index} ${s.reason ?? "down"}`).join(", "),
      };
    },
  };
}

/**
 * Every peer in `required` (`monitoring.required_peers`, read at each run so SIGHUP applies)
 * has its link up (peerLinks.ts: federation reports the states).
 */
export function peerLinksCheck(
  required: () => readonly string[],
  source: PeerLinkSource,
): ReadinessCheck {
  return {
    name: "peer_links",
    run(): CheckResult {
      const down = required()
        .map((peer) => ({ peer, state: source.state(peer) }))
        .filter((p) => p.state !== "up")
        .map((p) => `${p.peer} ${p.state ?? "not connected"}`);
      return down.length === 0
        ? { ok: true }
        : { ok: false, reason: `required peer links down: ${down.join(", ")}` };
    },
  };
}
