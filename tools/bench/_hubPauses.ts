/**
 * Why a hub's latency moved (issue 15): its primary's event-loop delay, garbage-collection
 * pauses and V8 heap over one measured window, read from its /metrics. The event-loop
 * delay p99/max and the longest GC pause are the hub's since the previous scrape, so a
 * scrape at the window's start resets them and one at its end reads the window's own.
 */
import type { SpawnedHub } from "../loadgen/hub.js";

const round1 = (x: number) => Math.round(x * 10) / 10;

export interface HubPauses {
  /** The primary's event-loop delay over the window (ms; 10 ms resolution). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Garbage-collection pauses of the primary's main thread over the window (ms). */
  gcPauseMaxMs: number;
  gcPauseTotalMs: number;
  /** Of that total, the mark-compact (major) collections'. */
  gcMajorMs: number;
  /** The primary's V8 heap in use at the window's end (MB). */
  heapMb: number;
}

async function scrape(hub: SpawnedHub): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${hub.monitoringPort}/metrics`)).text();
  } catch {
    return "";
  }
}

/** Sum of the samples of `name` whose labels contain `label` (NaN when there are none). */
function sample(text: string, name: string, label = ""): number {
  let sum = Number.NaN;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)`, "gm"))) {
    if (!(m[1] ?? "").includes(label)) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(m[2]);
  }
  return sum;
}

/** Runs `during` and reports the hub's pauses over it beside its result. */
export async function withHubPauses<T>(
  hub: SpawnedHub,
  during: () => Promise<T>,
): Promise<{ result: T; pauses: HubPauses }> {
  const a = await scrape(hub);
  const result = await during();
  const b = await scrape(hub);
  const ms = (text: string, name: string, label?: string) =>
    round1(sample(text, name, label) * 1000);
  // A counter not sampled yet (no pause of that kind so far) counts as 0.
  const count = (text: string, name: string, label?: string) => sample(text, name, label) || 0;
  const delta = (name: string, label?: string) =>
    round1((count(b, name, label) - count(a, name, label)) * 1000);
  return {
    result,
    pauses: {
      loopDelayP99Ms: ms(b, "kalandra_process_nodejs_eventloop_lag_p99_seconds"),
      loopDelayMaxMs: ms(b, "kalandra_process_nodejs_eventloop_lag_max_seconds"),
      gcPauseMaxMs: ms(b, "kalandra_process_gc_pause_max_seconds"),
      gcPauseTotalMs: delta("kalandra_process_gc_pause_seconds_total"),
      gcMajorMs: delta("kalandra_process_gc_pause_seconds_total", 'kind="major"'),
      heapMb: round1(sample(b, "kalandra_process_nodejs_heap_size_used_bytes") / 2 ** 20),
    },
  };
}

/** The window's figures as JSON keys `hub_…<suffix>` (suffix "", "_baseline", "_after_close"). */
export function pauseFigures(p: HubPauses, suffix: string): Record<string, number> {
  return {
    [`hub_loop_delay_p99_ms${suffix}`]: p.loopDelayP99Ms,
    [`hub_loop_delay_max_ms${suffix}`]: p.loopDelayMaxMs,
    [`hub_gc_pause_max_ms${suffix}`]: p.gcPauseMaxMs,
    [`hub_gc_pause_total_ms${suffix}`]: p.gcPauseTotalMs,
    [`hub_gc_major_ms${suffix}`]: p.gcMajorMs,
    [`hub_heap_mb${suffix}`]: p.heapMb,
  };
}
