/**
 * kalandrad's wiring: configuration → storage → hub key and certificate → hub core →
 * WebTransport listener → monitoring. The runtime owns sockets, the wall clock and timers
 * (DESIGN §2); the hub core only sees injected interfaces.
 *
 * Shards (DESIGN §9): by default every shard is a worker thread over its own LMDB
 * directory `<database.path>/shard-<i>`, the hub's own storage in `database.path` keeping
 * key packages and the audit log; `server.shard_runtime = "in-process"` runs the shards in
 * this thread over the one storage. The layout is recorded at the first start and checked
 * at every later one (shards/layout.ts).
 *
 * Shutdown order (SIGTERM/SIGINT): stop accepting sessions (readyz turns 503), let queued
 * responses drain for at most server.drain_timeout_ms, close sessions and the listener,
 * stop the shards (workers finish what was delivered, flush and close their LMDB), flush
 * and close the hub's storage, close monitoring.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import {
  type Clock,
  type Rng,
  systemClock,
  systemRng,
  systemTimers,
  type Timers,
  toHex,
} from "@kalandra/proto";
import { Gauge } from "prom-client";
import { diffConfig, parseAddress } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import { AdminApi } from "../../moderation/adminApi.js";
import { inBandModeration } from "../../moderation/inBand.js";
import { shardRoomData } from "../../moderation/roomData.js";
import { loadModerationState, Moderation } from "../../moderation/service.js";
import type { LmdbStorage } from "../../storage/lmdb/lmdbStorage.js";
import { openLmdbStorage } from "../../storage/lmdb/lmdbStorage.js";
import { certificateHash } from "./devCert.js";
import { loadOrCreateDevCert } from "./devCertStore.js";
import { EchoCore } from "./echoCore.js";
import { HubAdapter } from "./hubAdapter.js";
import { loadOrCreateHubKey } from "./hubKey.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { startMonitoring } from "./monitoring.js";
import type { FrameHandler } from "./session.js";
import { resolveShardLayout, type ShardLayout } from "./shards/layout.js";
import { type RuntimeLimits, type TransportMode, WebTransportListener } from "./transport.js";
import type { HubKey } from "./wire.js";

/** Which core answers frames: the real hub, or the echo stand-in (tests, transport benchmarks). */
export type CoreKind = "hub" | "echo";

/** Everything a hub core factory is given (the HubCore contract: injected storage, clock, rng, sink, limits). */
export interface CoreDeps {
  storage: LmdbStorage;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  hubKey: HubKey;
  sink: (sessionId: string, frame: Uint8Array) => void;
  config: Config;
  metrics: Metrics;
  log: Logger;
}

export interface DaemonOptions {
  config: Config;
  log: Logger;
  core?: CoreKind;
  /** Builds the hub core (default: HubCore through HubAdapter). */
  createCore?: (deps: CoreDeps) => FrameHandler | Promise<FrameHandler>;
  /**
   * A worker shard stopped on its own (its rooms are unavailable). Default: log it, shut
   * the daemon down and leave the process with exit code 1, so a supervisor (systemd
   * `Restart=on-failure`) restarts the hub, which restores every room from storage.
   */
  onShardFailure?: (index: number, error: Error) => void;
}

export function runtimeLimits(c: Config): RuntimeLimits {
  const l = c.limits;
  return {
    maxPayloadBytes: l.max_payload_bytes,
    connectionRatePerSec: l.connection_rate,
    connectionBurst: l.connection_burst,
    deviceRatePerSec: l.device_rate,
    deviceBurst: l.device_burst,
    maxStrikes: l.max_strikes,
    authTimeoutMs: l.auth_timeout_ms,
    maxConnections: l.max_connections,
  };
}

export class Daemon {
  private draining = false;
  private closed = false;
  core: FrameHandler | undefined;
  /** Kick, ban, redaction, retention sweeps (absent with the echo core). */
  moderation: Moderation | undefined;

  private constructor(
    private config: Config,
    private readonly log: Logger,
    readonly metrics: Metrics,
    private readonly storage: LmdbStorage,
    readonly listener: WebTransportListener,
    private readonly monitoring: { close(): Promise<void> } | undefined,
    readonly port: number,
    readonly monitoringPort: number | undefined,
    readonly certHash: Uint8Array,
    readonly hubPublicKey: Uint8Array,
    readonly mode: TransportMode,
  ) {}

  static async start(o: DaemonOptions): Promise<Daemon> {
    const { config, log } = o;
    const metrics = createMetrics();
    const dataDir = resolve(config.database.path);
    const storage = await openLmdbStorage({
      path: dataDir,
      noSync: config.database.sync === "none",
    });
    let started: FrameHandler | undefined;
    let daemon: Daemon | undefined;
    try {
      const hubKeyPath =
        config.server.hub_key !== ""
          ? resolve(config.server.hub_key)
          : join(dataDir, "hub-key.pem");
      const { key: hubKey, created: keyCreated } = loadOrCreateHubKey(hubKeyPath);
      if (keyCreated) log.info({ path: hubKeyPath }, "hub key created");

      let cert: string;
      let key: string;
      if (config.tls.cert !== "") {
        cert = readFileSync(config.tls.cert, "utf8");
        key = readFileSync(config.tls.key, "utf8");
      } else {
        const dev = loadOrCreateDevCert(dataDir);
        cert = dev.cert.cert;
        key = dev.cert.key;
        log.warn(
          {
            cert_sha256: toHex(dev.cert.hash),
            not_after: dev.cert.notAfter.toISOString(),
            created: dev.created,
          },
          "no [tls] configured: using a development certificate (clients must pin its hash)",
        );
      }
      const hash = certificateHash(cert);

      const addr = parseAddress(config.server.listen) ?? { host: "127.0.0.1", port: 4433 };
      let listener: WebTransportListener | undefined;
      const sink = (sessionId: string, frame: Uint8Array) => {
        listener?.deliver(sessionId, frame);
      };
      const timers = systemTimers();
      const deps: CoreDeps = {
        storage,
        clock: systemClock,
        rng: systemRng,
        timers,
        hubKey,
        sink,
        config,
        metrics,
        log,
      };
      let core: FrameHandler;
      let moderation: Moderation | undefined;
      let layout: ShardLayout | undefined;
      if (o.core === "echo") core = new EchoCore(sink);
      else if (o.createCore) core = await o.createCore(deps);
      else {
        layout = resolveShardLayout(
          dataDir,
          {
            runtime: config.server.shard_runtime as ShardLayout["runtime"],
            shards: config.server.shards,
          },
          {
            defaultShards: Math.max(1, availableParallelism()),
            rootHasRooms: storage.listRooms().length > 0,
          },
        );
        // Bans and retention policies are audit records, replayed before the first frame.
        const mod = loadModerationState(storage, {
          maxAgeMs: config.moderation.retention_max_age_ms,
          maxCount: config.moderation.retention_max_count,
        });
        const adapter = await HubAdapter.open(deps, () => listener, {
          bans: mod.bans,
          ...(layout.runtime === "worker"
            ? {
                workers: {
                  count: layout.shards,
                  path: dataDir,
                  onFailure: (index: number, error: Error) => {
                    log.fatal(
                      { shard: index, err: error.message },
                      "shard worker stopped: its rooms are unavailable",
                    );
                    if (o.onShardFailure) return o.onShardFailure(index, error);
                    process.exitCode = 1;
                    void daemon?.shutdown(`shard ${index} failed`);
                  },
                },
              }
            : {}),
        });
        core = adapter;
        new Gauge({
          name: "kalandra_shards",
          help: "Sequencer shards of this hub, by runtime (worker threads or in-process)",
          labelNames: ["runtime"],
          registers: [metrics.registry],
        }).set({ runtime: layout.runtime }, adapter.core.shards.count);
        moderation = new Moderation({
          hub: adapter.core,
          storage,
          // Rooms are read by the shard that owns them (their own storages with workers).
          rooms: shardRoomData(adapter.core.shards),
          clock: systemClock,
          timers,
          ...mod,
          sweepIntervalMs: config.moderation.sweep_interval_ms,
        });
        moderation.start();
        adapter.core.setModeration(
          inBandModeration(moderation, {
            moderators: () => config.moderation.moderators,
            clock: systemClock,
          }),
        );
      }
      started = core;
      log.info(
        {
          core: o.core === "echo" ? "echo" : "hub",
          ...(layout === undefined ? {} : { shards: layout.shards, shard_runtime: layout.runtime }),
        },
        "core ready",
      );
      listener = new WebTransportListener({
        host: addr.host,
        port: addr.port,
        cert,
        key,
        hub: hubKey,
        handler: core,
        limits: runtimeLimits(config),
        clock: systemClock,
        rng: systemRng,
        timers,
        metrics,
        log,
      });
      const { port, mode } = await listener.start();

      let monitoring: { close(): Promise<void> } | undefined;
      let monitoringPort: number | undefined;
      const mon = parseAddress(config.monitoring.listen);
      if (mon) {
        const m = await startMonitoring({
          host: mon.host,
          port: mon.port,
          registry: metrics.registry,
          ready: () => daemon !== undefined && !daemon.draining,
          adminToken: () => daemon?.config.monitoring.admin_token ?? config.monitoring.admin_token,
          ...(moderation === undefined
            ? {}
            : {
                admin: new AdminApi({
                  moderation,
                  token: () =>
                    daemon?.config.monitoring.admin_token ?? config.monitoring.admin_token,
                  clock: systemClock,
                }),
              }),
        });
        monitoringPort = m.port;
        monitoring = { close: () => new Promise<void>((r) => m.server.close(() => r())) };
        m.server.unref();
      }
      daemon = new Daemon(
        config,
        log,
        metrics,
        storage,
        listener,
        monitoring,
        port,
        monitoringPort,
        hash,
        hubKey.publicKey,
        mode,
      );
      daemon.moderation = moderation;
      // Shutdown drains and closes it (worker shards flush their LMDB), and SIGHUP reconfigures it.
      daemon.core = core;
      log.info(
        {
          listen: `${addr.host}:${port}`,
          transport: mode,
          monitoring: monitoringPort !== undefined ? `${mon?.host}:${monitoringPort}` : "disabled",
          port,
          monitoring_port: monitoringPort,
          cert_sha256: toHex(hash),
          hub_key: toHex(hubKey.publicKey),
          data: dataDir,
          sync: config.database.sync,
          ...(layout === undefined ? {} : { shards: layout.shards, shard_runtime: layout.runtime }),
        },
        "kalandrad ready",
      );
      return daemon;
    } catch (e) {
      // Worker shards would keep the process alive and their LMDB open.
      await started?.close?.().catch(() => undefined);
      await storage.close().catch(() => undefined);
      throw e;
    }
  }

  get ready(): boolean {
    return !this.draining && !this.closed;
  }

  /**
   * Applies a reloaded configuration (SIGHUP): log level and limits change at once; other
   * changed keys are reported as needing a restart. Returns what changed.
   */
  reload(next: Config): { applied: string[]; needsRestart: string[] } {
    const changes = diffConfig(this.config, next);
    const applied = changes.filter((c) => c.reloadable).map((c) => c.key);
    const needsRestart = changes.filter((c) => !c.reloadable).map((c) => c.key);
    const merged = structuredClone(this.config);
    merged.server.log_level = next.server.log_level;
    merged.server.drain_timeout_ms = next.server.drain_timeout_ms;
    merged.limits = { ...next.limits };
    this.config = merged;
    this.log.level = merged.server.log_level;
    this.listener.reconfigure(runtimeLimits(merged));
    if (this.core instanceof HubAdapter) {
      this.core.reconfigure({
        maxRooms: merged.limits.max_rooms,
        maxMembersPerRoom: merged.limits.max_members_per_room,
      });
    }
    this.metrics.reloads.inc({ result: "ok" });
    this.log.info(
      { applied, needs_restart: needsRestart },
      applied.length + needsRestart.length > 0
        ? "configuration reloaded"
        : "configuration reloaded: nothing changed",
    );
    return { applied, needsRestart };
  }

  /** Drains and stops; resolves once storage is flushed and closed. Safe to call twice. */
  async shutdown(reason: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const t0 = Date.now();
    this.log.info(
      { reason, sessions: this.listener.size },
      "shutting down: no new sessions, draining",
    );
    this.listener.stopAccepting();
    const budget = this.config.server.drain_timeout_ms;
    await this.moderation?.stop();
    await this.core?.drain?.(budget);
    await this.listener.close(Math.max(100, budget - (Date.now() - t0)));
    await this.core?.close?.();
    await this.storage.close();
    this.closed = true;
    await this.monitoring?.close();
    this.log.info({ ms: Date.now() - t0 }, "shutdown complete: storage flushed");
  }
}
