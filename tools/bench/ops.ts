/**
 * `pnpm bench ops` (issue 16): operating a data directory. One suite, one JSON line.
 *
 * - reshard_rooms_per_s (with frames and MB per second): `kalandrad admin reshard` 2 → 4
 *   worker shards, real fsyncs (tools/bench/_reshard.ts). Full: 1000 rooms × 1000 frames of
 *   1 KiB (~1.2 GB on disk); BENCH_QUICK=1: 20 rooms × 50 frames.
 */
import { measureReshard } from "./_reshard.js";

const quick = process.env.BENCH_QUICK === "1";

const reshard = await measureReshard(
  quick
    ? { rooms: 20, frames: 50, payloadBytes: 200 }
    : { rooms: 1000, frames: 1000, payloadBytes: 1024 },
);
console.log(JSON.stringify({ ...reshard }));
