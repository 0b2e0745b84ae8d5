/**
 * kalandrad's wiring: configuration → storage → hub key and certificate → hub (HubHost,
 * HubCore, shards, moderation) → WebTransport and WebSocket listeners → monitoring, each a named step in
 * startup.ts. The runtime owns sockets, the wall clock and timers (DESIGN §2); the cores
 * only see injected interfaces.
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
import { resolve } from "node:path";
import {
  type Clock,
  type Rng,
  systemClock,
  systemRng,
  systemTimers,
  type Timers,
  toHex,
} from "@kalandra/proto";
import { diffConfig, parseAddress } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import type { FederationSetup } from "../../federation/contract.js";
import type { HubCore } from "../../hub/hubCore.js";
import type { HubHost } from "../../hub/hubHost.js";
import type { Moderation } from "../../moderation/service.js";
import type { LmdbStorage } from "../../storage/lmdb/lmdbStorage.js";
import { openLmdbStorage } from "../../storage/lmdb/lmdbStorage.js";
import { Certificates } from "./certificates.js";
import type { DataLock } from "./datadir/dataLock.js";
import { openDataDir } from "./datadir/openDataDir.js";
import type { AuthorityDriver } from "./federation/authorityDriver.js";
import type { FederationLinks } from "./federation/federationLinks.js";
import { driveRoomAuthority, openFederationLinks } from "./federationStartup.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { hostLimits, roomLimits } from "./nodeHub.js";
import { PeerLinks } from "./peerLinks.js";
import { evaluateReadiness, type ReadinessCheck, type ReadinessReport } from "./readiness.js";
import {
  layoutFields,
  loadKey,
  type Monitoring,
  openHub,
  readinessChecks,
  type StartedHub,
  startMonitoringEndpoint,
} from "./startup.js";
import { type RuntimeLimits, type TransportMode, WebTransportListener } from "./transport.js";
import { webAppHandler } from "./webApp.js";
import type { HubKey } from "./wire.js";
import { WebSocketFronts } from "./wsFronts.js";
import { WebSocketListener } from "./wsTransport.js";

/** The WebSocket listener in this process, or its front processes: the daemon uses either alike. */
export type WsListener = WebSocketListener | WebSocketFronts;

/** Which core answers frames: the real hub, or the echo stand-in (tests, transport benchmarks). */
export type CoreKind = "hub" | "echo";

/** What the hub is built from (the cores get injected storage, clock, rng and timers). */
export interface CoreDeps {
  storage: LmdbStorage;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  hubKey: HubKey;
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Rooms across hubs: the peer policy and the hub links (absent: federation disabled). */
  federation?: FederationSetup;
}

export interface DaemonOptions {
  config: Config;
  log: Logger;
  core?: CoreKind;
  /**
   * A worker shard stopped on its own (its rooms are unavailable). Default: log it, shut
   * the daemon down and leave the process with exit code 1, so a supervisor (systemd
   * `Restart=on-failure`) restarts the hub, which restores every room from storage.
   */
  onShardFailure?: (index: number, error: Error) => void;
  /** Run pending data-format migrations before opening storage (`start --migrate`). */
  migrate?: boolean;
  /** Module URL exporting `setupShard` for worker shards (tests; default shards/setup.ts). */
  shardSetupModule?: string;
}

export function runtimeLimits(c: Config): RuntimeLimits {
  const l = c.limits;
  return {
    ...hostLimits(c),
    maxPayloadBytes: l.max_payload_bytes,
    connectionRatePerSec: l.connection_rate,
    connectionBurst: l.connection_burst,
    maxStrikes: l.max_strikes,
    authTimeoutMs: l.auth_timeout_ms,
    keepaliveIntervalMs: l.keepalive_interval_ms,
    idleTimeoutMs: l.idle_timeout_ms,
    clientPingIntervalMs: l.client_ping_interval_ms,
    maxConnections: l.max_connections,
  };
}

export class Daemon {
  private draining = false;
  private closed = false;
  /** Kick, ban, redaction, retention sweeps (absent with the echo core). */
  moderation: Moderation | undefined;
  /**
   * The WebSocket listener and its port (absent when `server.websocket_listen` is empty):
   * in this process, or its front processes (`server.websocket_fronts`).
   */
  wsListener: WsListener | undefined;
  wsPort: number | undefined;
  /**
   * Federation peer links as readiness sees them: federation (issue 18) reports each link's
   * state here; `/readyz` fails while a `monitoring.required_peers` link is not up.
   */
  peerLinks = new PeerLinks();
  /** The hub links to `[federation] peers` (absent while federation is disabled). */
  federation: FederationLinks | undefined;
  /** Ticks the federation core (transfers, failover) and samples rooms into metrics. */
  authorityDriver: AuthorityDriver | undefined;
  private checks: ReadinessCheck[] = [];

  private constructor(
    private config: Config,
    private readonly log: Logger,
    readonly metrics: Metrics,
    private readonly storage: LmdbStorage,
    /** Sessions, devices and routing in front of the core; shutdown drains and closes it. */
    readonly host: HubHost,
    private readonly hubCore: HubCore | undefined,
    readonly listener: WebTransportListener,
    readonly port: number,
    /** The served TLS certificate: re-read on SIGHUP, a development one renewed when due. */
    readonly certificates: Certificates,
    readonly hubPublicKey: Uint8Array,
    readonly mode: TransportMode,
  ) {}

  private monitoring: Monitoring | undefined;
  /** The data directory's lock (datadir/dataLock.ts), released once storage is closed. */
  private dataLock: DataLock | undefined;

  get monitoringPort(): number | undefined {
    return this.monitoring?.port;
  }

  /** SHA-256 of the certificate served now (what WebTransport clients pin). */
  get certHash(): Uint8Array {
    return this.certificates.current.hash;
  }

  /**
   * Starts kalandrad: storage, hub key, TLS certificate, the hub (host, core, shards,
   * moderation), the WebTransport listener, monitoring. On failure everything opened so
   * far is closed again.
   */
  static async start(o: DaemonOptions): Promise<Daemon> {
    const { config, log } = o;
    const metrics = createMetrics();
    const dataDir = resolve(config.database.path);
    // Lock, interrupted-reshard check, format check or --migrate (docs/operations.md "Upgrading").
    const dataLock = await openDataDir(dataDir, {
      migrate: o.migrate === true,
      log: (msg) => log.info({ data: dataDir }, msg),
    });
    let storage: LmdbStorage;
    try {
      storage = await openLmdbStorage({ path: dataDir, noSync: config.database.sync === "none" });
    } catch (e) {
      dataLock.release();
      throw e;
    }
    let hub: StartedHub | undefined;
    const listeners: { close(ms: number): Promise<void> }[] = [];
    let certificates: Certificates | undefined;
    try {
      const hubKey = loadKey(config, dataDir, log);
      certificates = new Certificates({
        certPath: config.tls.cert,
        keyPath: config.tls.key,
        dataDir,
        warningDays: config.tls.expiry_warning_days,
        log,
        registry: metrics.registry,
      });
      const tls = certificates.current;
      const deps: CoreDeps = {
        storage,
        clock: systemClock,
        rng: systemRng,
        timers: systemTimers(),
        hubKey,
        config,
        metrics,
        log,
      };
      let daemon: Daemon | undefined;
      // The links exist before the hub: its federation core sends through them.
      const board = new PeerLinks();
      const federation = openFederationLinks({
        ...deps,
        board,
        audit: (r) => storage.appendAudit(r),
      });
      if (federation) {
        deps.federation = {
          peers: federation.policyView,
          links: federation,
          ackQuorum: config.federation.ack_quorum === "local" ? "local" : "majority",
          failoverAfterMs: config.federation.failover_after_ms,
          retryAfterMs: BigInt(config.federation.retry_after_ms),
          keepaliveMs: config.federation.keepalive_ms,
          enlistHubs: config.federation.enlist_hubs,
        };
      }
      hub = await openHub(o, deps, dataDir, () => daemon);
      const fedCore = hub.hubCore?.federation;
      if (federation && fedCore) federation.attach(fedCore);
      if (federation) listeners.push({ close: async () => federation.close() });
      // Transfers and failovers: the core's clock, and its rooms sampled into metrics.
      const authority = federation && fedCore ? driveRoomAuthority(fedCore, deps) : undefined;
      if (authority) listeners.push({ close: async () => authority.driver.stop() });
      const addr = parseAddress(config.server.listen) ?? { host: "127.0.0.1", port: 4433 };
      // What every listener shares: the one host, its limits, key and metrics.
      const shared = {
        hubKey,
        hub: hub.host,
        limits: runtimeLimits(config),
        clock: systemClock,
        rng: systemRng,
        timers: deps.timers,
        metrics,
        log,
        ...(federation === undefined ? {} : { links: federation }),
      };
      const listener = new WebTransportListener({
        ...shared,
        host: addr.host,
        port: addr.port,
        cert: tls.cert,
        key: tls.key,
      });
      listeners.push(listener);
      const { port, mode } = await listener.start();
      const wsAddr = parseAddress(config.server.websocket_listen);
      const wsShared =
        wsAddr === undefined
          ? undefined
          : {
              host: wsAddr.host,
              port: wsAddr.port,
              // A configured certificate makes it wss; the development one is for WebTransport's hash pinning only.
              ...(config.tls.cert === "" ? {} : { tls: { cert: tls.cert, key: tls.key } }),
              ...shared,
              limits: runtimeLimits(config),
            };
      const web = config.web.static_dir !== "";
      // Front processes hold the sockets when configured (wsFronts.ts).
      const wsListener: WsListener | undefined =
        wsShared === undefined
          ? undefined
          : config.server.websocket_fronts > 0
            ? new WebSocketFronts({
                ...wsShared,
                fronts: config.server.websocket_fronts,
                ...(web ? { webApp: { config, hubPublicKey: hubKey.publicKey } } : {}),
              })
            : new WebSocketListener({
                ...wsShared,
                ...(web ? { http: await webAppHandler(config, hubKey.publicKey) } : {}),
              });
      if (wsListener) listeners.push(wsListener);
      const ws = await wsListener?.start();
      daemon = new Daemon(
        config,
        log,
        metrics,
        storage,
        hub.host,
        hub.hubCore,
        listener,
        port,
        certificates,
        hubKey.publicKey,
        mode,
      );
      daemon.dataLock = dataLock;
      daemon.moderation = hub.moderation;
      daemon.wsListener = wsListener;
      daemon.wsPort = ws?.port;
      daemon.peerLinks = board;
      daemon.federation = federation;
      daemon.authorityDriver = authority?.driver;
      federation?.start();
      // Both listeners swap their TLS context together (plain ws has none to swap).
      const certs = certificates;
      certs.onChange((c) => {
        listener.updateCertificate(c.cert, c.key);
        wsListener?.updateCertificate(c.cert, c.key);
      });
      certs.start(deps.timers);
      const d = daemon;
      daemon.checks = readinessChecks({
        accepting: () => d.ready,
        dataDir,
        hub,
        requiredPeers: () => d.config.monitoring.required_peers,
        peerLinks: d.peerLinks,
      });
      daemon.monitoring = await startMonitoringEndpoint(
        daemon,
        config,
        metrics,
        hub.moderation,
        hub.identity,
        hub.rooms,
        fedCore === undefined || authority === undefined
          ? undefined
          : {
              federation: {
                domain: fedCore.domain,
                transfer: (roomId, to) => fedCore.transfer(roomId, to),
                roomAuthority: (roomId) => fedCore.roomAuthorityOf(roomId),
              },
              counted: (result) => authority.metrics.transfersRequested.inc({ result }),
            },
      );
      log.info(
        {
          listen: `${addr.host}:${port}`,
          transport: mode,
          web_app:
            ws === undefined || config.web.static_dir === ""
              ? "disabled"
              : `http://${wsAddr?.host}:${ws.port}/`,
          websocket:
            ws === undefined
              ? "disabled"
              : `${ws.secure ? "wss" : "ws"}://${wsAddr?.host}:${ws.port}/kalandra`,
          monitoring:
            daemon.monitoringPort !== undefined
              ? `${parseAddress(config.monitoring.listen)?.host}:${daemon.monitoringPort}`
              : "disabled",
          port,
          monitoring_port: daemon.monitoringPort,
          cert_sha256: toHex(tls.hash),
          cert_not_after: tls.notAfter.toISOString(),
          hub_key: toHex(hubKey.publicKey),
          data: dataDir,
          sync: config.database.sync,
          ...layoutFields(hub.layout),
        },
        "kalandrad ready",
      );
      return daemon;
    } catch (e) {
      certificates?.stop();
      // Worker shards would keep the process alive and their LMDB open.
      for (const l of listeners) await l.close(0).catch(() => undefined);
      await hub?.host.close().catch(() => undefined);
      await storage.close().catch(() => undefined);
      dataLock.release();
      throw e;
    }
  }

  /** The admin token of the configuration in force (it may change on SIGHUP). */
  get adminToken(): string {
    return this.config.monitoring.admin_token;
  }

  get ready(): boolean {
    return !this.draining && !this.closed;
  }

  /** Every readiness check's answer (`/readyz`). */
  readiness(): Promise<ReadinessReport> {
    return evaluateReadiness(this.checks);
  }

  /**
   * Re-reads the TLS certificate and key (SIGHUP; also when the reloaded file is invalid, so
   * a renewed certificate is never held back by an unrelated configuration mistake).
   */
  reloadCertificate(): "ok" | "unchanged" | "failed" {
    return this.certificates.reload(this.config.tls.expiry_warning_days);
  }

  /**
   * Applies a reloaded configuration (SIGHUP): log level and limits change at once; other
   * changed keys are reported as needing a restart. Returns what changed.
   */
  reload(next: Config): {
    applied: string[];
    needsRestart: string[];
    tls: "ok" | "unchanged" | "failed";
  } {
    const changes = diffConfig(this.config, next);
    const applied = changes.filter((c) => c.reloadable).map((c) => c.key);
    const needsRestart = changes.filter((c) => !c.reloadable).map((c) => c.key);
    const merged = structuredClone(this.config);
    merged.server.log_level = next.server.log_level;
    merged.server.drain_timeout_ms = next.server.drain_timeout_ms;
    merged.limits = { ...next.limits };
    merged.tls.expiry_warning_days = next.tls.expiry_warning_days;
    merged.monitoring.required_peers = [...next.monitoring.required_peers];
    merged.federation.allow = [...next.federation.allow];
    merged.federation.block = [...next.federation.block];
    merged.federation.peer_rate = next.federation.peer_rate;
    merged.federation.peer_burst = next.federation.peer_burst;
    this.config = merged;
    this.federation?.reconfigure(merged.federation);
    const tls = this.reloadCertificate();
    this.log.level = merged.server.log_level;
    this.listener.reconfigure(runtimeLimits(merged));
    this.wsListener?.reconfigure(runtimeLimits(merged));
    this.hubCore?.reconfigure(roomLimits(merged));
    this.metrics.reloads.inc({ result: "ok" });
    this.log.info(
      { applied, needs_restart: needsRestart, tls },
      applied.length + needsRestart.length > 0
        ? "configuration reloaded"
        : "configuration reloaded: nothing changed",
    );
    return { applied, needsRestart, tls };
  }

  /** Drains and stops; resolves once storage is flushed and closed. Safe to call twice. */
  async shutdown(reason: string): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.certificates.stop();
    const t0 = Date.now();
    this.log.info({ reason, sessions: this.host.size }, "shutting down: no new sessions, draining");
    this.listener.stopAccepting();
    this.wsListener?.stopAccepting();
    this.federation?.close();
    this.authorityDriver?.stop();
    const budget = this.config.server.drain_timeout_ms;
    await this.moderation?.stop();
    this.hubCore?.inbox.stop();
    await withTimeout(this.host.drain(), budget);
    const left = Math.max(100, budget - (Date.now() - t0));
    await Promise.all([this.listener.close(left), this.wsListener?.close(left)]);
    await this.host.close();
    await this.storage.close();
    this.dataLock?.release();
    this.closed = true;
    await this.monitoring?.close();
    this.log.info({ ms: Date.now() - t0 }, "shutdown complete: storage flushed");
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
