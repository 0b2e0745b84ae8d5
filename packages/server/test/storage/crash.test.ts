/**
 * Crash test (issue 3): a child process appends under load with real fsyncs and is killed
 * with SIGKILL at seeded random moments, several rounds on the same directory. After each
 * kill the directory is reopened: every acknowledged frame is there and intact, the log has
 * no gap, only frames whose erasure had started are tombstones, and the audit chain holds.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openLmdbStorage } from "../../src/storage/lmdb/lmdbStorage.js";
import { runUntilKilled } from "../support/killedChild.js";
import { crashFrame } from "./crashFrames.js";
import { seededRng, tempDir } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const SEED = process.env.CRASH_SEED ?? "kalandra-crash-1";
const ROUNDS = 5;

const d = tempDir("crash");
afterAll(() => d.cleanup());

interface RoundLog {
  acked: Map<bigint, bigint>;
  deleting: Set<string>;
  deleted: Set<string>;
}

/** Runs the child until `ready`, lets it work for `workMs`, kills it, returns what it said. */
function runChild(workMs: number, round: number): Promise<string[]> {
  return runUntilKilled({
    script: join(here, "crashChild.ts"),
    args: [d.path, `${SEED}/${round}`],
    workMs,
    readyTimeoutMs: 20_000,
  });
}

function parse(lines: string[], log: RoundLog): void {
  for (const line of lines) {
    const [what, a, b, c] = line.split(" ");
    if (what === "ack") {
      const room = BigInt(a ?? "0");
      const to = BigInt(c ?? "0");
      if ((log.acked.get(room) ?? -1n) < to) log.acked.set(room, to);
      expect(b).toBeDefined();
    } else if (what === "deleting") log.deleting.add(`${a}/${b}`);
    else if (what === "deleted") log.deleted.add(`${a}/${b}`);
  }
}

describe("crash consistency under SIGKILL", () => {
  it(`keeps every acknowledged frame across ${ROUNDS} kills (seed ${SEED})`, async () => {
    const rng = seededRng(SEED);
    const log: RoundLog = { acked: new Map(), deleting: new Set(), deleted: new Set() };
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = rng.bytes(2);
      const workMs = 50 + ((((r[0] ?? 0) << 8) | (r[1] ?? 0)) % 900);
      const lines = await runChild(workMs, round);
      parse(lines, log);

      const s = await openLmdbStorage({ path: d.path });
      try {
        const keys = new Set<string>();
        for (const room of [1n, 2n, 3n]) {
          const next = s.nextIndex(room);
          expect(next, `room ${room} lost acknowledged frames`).toBeGreaterThan(
            log.acked.get(room) ?? -1n,
          );
          const frames = s.readRange(room, 0n, Number(next) + 10);
          expect(frames.map((f) => f.logIndex)).toEqual(frames.map((_, i) => BigInt(i)));
          expect(BigInt(frames.length)).toBe(next);
          for (const f of frames) {
            const want = crashFrame(room, f.logIndex);
            const id = `${room}/${f.logIndex}`;
            expect(f.header).toEqual(want.header);
            if (f.payload === null) expect(log.deleting.has(id), `${id} erased unasked`).toBe(true);
            else {
              expect(log.deleted.has(id), `${id} erasure lost`).toBe(false);
              expect(f.payload).toEqual(want.payload);
              const key = Buffer.from(s.inspectPayloadKey(room, f.logIndex) ?? []).toString("hex");
              expect(keys.has(key), `${id} shares a vault slot`).toBe(false);
              keys.add(key);
            }
          }
          total = Math.max(total, Number(next));
        }
        expect(s.verifyAudit().ok).toBe(true);
        expect(s.readAudit().length).toBeGreaterThanOrEqual(log.deleted.size);
      } finally {
        await s.close();
      }
    }
    console.log(
      `crash: ${ROUNDS} kills, ${[...log.acked.values()].reduce((a, b) => a + b + 1n, 0n)} frames acknowledged, ${log.deleted.size} erasures acknowledged`,
    );
    expect(total).toBeGreaterThan(0);
  }, 60_000);
});
