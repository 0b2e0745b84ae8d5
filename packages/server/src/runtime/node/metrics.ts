/**
 * Prometheus metrics of one kalandrad process (prom-client, own registry so tests can
 * create several). Names follow the Prometheus conventions: `_total` counters, base units
 * (seconds, bytes). Labels carry codes and opcodes, never user or room identifiers, so
 * cardinality stays bounded and nothing identifying reaches the scraper.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface Metrics {
  registry: Registry;
  messagesSent: Counter;
  framesReceived: Counter<"opcode">;
  framesRejected: Counter<"code">;
  bytesReceived: Counter;
  bytesSent: Counter;
  connectionsActive: Gauge;
  connectionsTotal: Counter;
  connectionsRefused: Counter<"reason">;
  sessionsAuthenticated: Counter;
  sessionsIdleClosed: Counter;
  /** WebSocket front processes that exited on their own (`server.websocket_fronts`). */
  websocketFrontExits: Counter;
  /** Client PINGs a WebSocket front answered itself (websocket/frontPings.ts). */
  websocketFrontPongs: Counter;
  roomMembers: Gauge;
  rooms: Gauge;
  commitDuration: Histogram;
  storageAppend: Histogram;
  frameHandling: Histogram;
  reloads: Counter<"result">;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: "kalandra_process_" });
    observeGcPauses(registers);
  }
  return {
    registry,
    messagesSent: new Counter({
      name: "kalandra_messages_sent_total",
      help: "Frames delivered to clients (responses, fan-out, ephemeral relays)",
      registers,
    }),
    framesReceived: new Counter({
      name: "kalandra_frames_received_total",
      help: "Frames accepted from authenticated sessions, by opcode",
      labelNames: ["opcode"],
      registers,
    }),
    framesRejected: new Counter({
      name: "kalandra_frames_rejected_total",
      help: "Frames or connections refused with an ERROR frame, by error code name",
      labelNames: ["code"],
      registers,
    }),
    bytesReceived: new Counter({
      name: "kalandra_bytes_received_total",
      help: "Bytes read from sessions",
      registers,
    }),
    bytesSent: new Counter({
      name: "kalandra_bytes_sent_total",
      help: "Bytes written to sessions",
      registers,
    }),
    connectionsActive: new Gauge({
      name: "kalandra_connections_active",
      help: "Open client sessions",
      registers,
    }),
    connectionsTotal: new Counter({
      name: "kalandra_connections_total",
      help: "Sessions accepted since start",
      registers,
    }),
    connectionsRefused: new Counter({
      name: "kalandra_connections_refused_total",
      help: "Sessions refused, by reason",
      labelNames: ["reason"],
      registers,
    }),
    sessionsAuthenticated: new Counter({
      name: "kalandra_sessions_authenticated_total",
      help: "Sessions whose device proved its key",
      registers,
    }),
    sessionsIdleClosed: new Counter({
      name: "kalandra_sessions_idle_closed_total",
      help: "Sessions closed because the client stayed silent for limits.idle_timeout_ms",
      registers,
    }),
    websocketFrontExits: new Counter({
      name: "kalandra_websocket_front_exits_total",
      help: "WebSocket front processes that exited while the hub ran (each ended its sessions and was restarted)",
      registers,
    }),
    websocketFrontPongs: new Counter({
      name: "kalandra_websocket_front_pongs_total",
      help: "Client PINGs answered by a WebSocket front process without the primary",
      registers,
    }),
    roomMembers: new Gauge({
      name: "kalandra_room_members",
      help: "Members across all rooms (sum)",
      registers,
    }),
    rooms: new Gauge({ name: "kalandra_rooms", help: "Rooms known to this hub", registers }),
    commitDuration: new Histogram({
      name: "kalandra_commit_duration_seconds",
      help: "Time from receiving a COMMIT to its response",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    storageAppend: new Histogram({
      name: "kalandra_storage_append_seconds",
      help: "Time from receiving a sequenced request to its response (storage append included)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    frameHandling: new Histogram({
      name: "kalandra_frame_handling_seconds",
      help: "Time the hub core spends on one inbound frame (synchronous part)",
      buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1],
      registers,
    }),
    reloads: new Counter({
      name: "kalandra_config_reloads_total",
      help: "SIGHUP reloads by result",
      labelNames: ["result"],
      registers,
    }),
  };
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/**
 * Every garbage-collection pause of this process: the total by kind, and the longest since
 * the previous scrape (issue 15: the event loop's stalls with 100,000 sessions). Its own
 * observer because prom-client's `nodejs_gc_duration_seconds` records only the first
 * entry of each batch the observer delivers, and has no maximum.
 */
function observeGcPauses(registers: Registry[]): void {
  const total = new Counter({
    name: "kalandra_process_gc_pause_seconds_total",
    help: "Time the main thread spent paused in garbage collection, by kind",
    labelNames: ["kind"],
    registers,
  });
  let max = 0;
  new Gauge({
    name: "kalandra_process_gc_pause_max_seconds",
    help: "The longest garbage-collection pause since the previous scrape",
    registers,
    collect() {
      this.set(max);
      max = 0;
    },
  });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? -1;
      const s = e.duration / 1000;
      total.inc({ kind: GC_KINDS[kind] ?? "other" }, s);
      if (s > max) max = s;
    }
  }).observe({ entryTypes: ["gc"] });
}
