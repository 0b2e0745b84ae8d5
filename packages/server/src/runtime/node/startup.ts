/**
 * The named steps of `Daemon.start` (daemon.ts): the hub key, the hub (host, core, shards,
 * moderation), the readiness checks and the monitoring endpoint (the TLS certificate is
 * certificates.ts). Each does one thing and logs what an operator needs to know about it.
 */
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { systemClock, toHex } from "@kalandra/proto";
import { Gauge } from "prom-client";
import { parseAddress } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import type { HubCore } from "../../hub/hubCore.js";
import { HubHost } from "../../hub/hubHost.js";
import type { IdentityAdmin } from "../../identity/adminRoutes.js";
import { Enrollment } from "../../identity/enrollment.js";
import { AdminApi, type AdminApiOptions } from "../../moderation/adminApi.js";
import { inBandModeration } from "../../moderation/inBand.js";
import { RoomAdmin } from "../../moderation/roomAdmin.js";
import { shardRoomData } from "../../moderation/roomData.js";
import { loadModerationState, Moderation } from "../../moderation/service.js";
import type { CoreDeps, Daemon, DaemonOptions } from "./daemon.js";
import { EchoCore } from "./echoCore.js";
import { loadOrCreateHubKey } from "./hubKey.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { startMonitoring } from "./monitoring.js";
import { hostLimits, openNodeHub } from "./nodeHub.js";
import type { PeerLinkSource } from "./peerLinks.js";
import type { ReadinessCheck } from "./readiness.js";
import { cached } from "./readiness.js";
import { drainingCheck, peerLinksCheck, shardsCheck, storageCheck } from "./readinessChecks.js";
import { resolveShardLayout, type ShardLayout } from "./shards/layout.js";
import { shardPath } from "./shards/setup.js";
import { WorkerShards } from "./shards/workerShards.js";
import type { HubKey } from "./wire.js";

/** The hub as started: its host, and moderation and shard layout with the real core. */
export interface StartedHub {
  host: HubHost;
  hubCore?: HubCore;
  moderation?: Moderation;
  layout?: ShardLayout;
  /** Users and devices for the admin API. */
  identity?: IdentityAdmin;
  /** Rooms and audit chains for the admin API. */
  rooms?: RoomAdmin;
}

export interface Monitoring {
  port: number;
  close(): Promise<void>;
}

/** The hub's signing key: `server.hub_key`, or `<data>/hub-key.pem` (created at the first start). */
export function loadKey(config: Config, dataDir: string, log: Logger): HubKey {
  const path =
    config.server.hub_key !== "" ? resolve(config.server.hub_key) : join(dataDir, "hub-key.pem");
  const { key, created } = loadOrCreateHubKey(path);
  if (created) log.info({ path }, "hub key created");
  return key;
}

/**
 * The hub behind the listener: with the echo core, a host over `EchoCore`; otherwise the
 * shard layout is resolved, moderation state replayed (bans and retention policies are
 * audit records, replayed before the first frame), the host and core opened over the
 * shards, and moderation started on it.
 */
export async function openHub(
  o: DaemonOptions,
  deps: CoreDeps,
  dataDir: string,
  daemon: () => Daemon | undefined,
): Promise<StartedHub> {
  const { config, log, metrics } = deps;
  if (o.core === "echo") {
    const host = await HubHost.open(
      {
        clock: deps.clock,
        limits: hostLimits(config),
      },
      (sink) => new EchoCore(sink),
    );
    log.info({ core: "echo" }, "core ready");
    return { host };
  }
  const layout = resolveShardLayout(
    dataDir,
    {
      runtime: config.server.shard_runtime as ShardLayout["runtime"],
      shards: config.server.shards,
    },
    {
      defaultShards: Math.max(1, availableParallelism()),
      rootHasRooms: deps.storage.listRooms().length > 0,
    },
  );
  const mod = loadModerationState(deps.storage, {
    maxAgeMs: config.moderation.retention_max_age_ms,
    maxCount: config.moderation.retention_max_count,
  });
  const host = await openNodeHub(deps, {
    bans: mod.bans,
    ...(deps.federation === undefined ? {} : { federation: deps.federation }),
    ...(layout.runtime === "worker"
      ? {
          workers: {
            count: layout.shards,
            path: dataDir,
            ...(o.shardSetupModule === undefined ? {} : { setupModule: o.shardSetupModule }),
            onFailure: (index: number, error: Error) => {
              log.fatal(
                { shard: index, err: error.message },
                "shard worker stopped: its rooms are unavailable",
              );
              if (o.onShardFailure) return o.onShardFailure(index, error);
              process.exitCode = 1;
              void daemon()?.shutdown(`shard ${index} failed`);
            },
          },
        }
      : {}),
  });
  const core = host.core;
  new Gauge({
    name: "kalandra_shards",
    help: "Sequencer shards of this hub, by runtime (worker threads or in-process)",
    labelNames: ["runtime"],
    registers: [metrics.registry],
  }).set({ runtime: layout.runtime }, core.shards.count);
  const moderation = new Moderation({
    hub: core,
    storage: deps.storage,
    // Rooms are read by the shard that owns them (their own storages with workers).
    rooms: shardRoomData(core.shards),
    clock: systemClock,
    timers: deps.timers,
    ...mod,
    sweepIntervalMs: config.moderation.sweep_interval_ms,
  });
  moderation.start();
  // Expired Welcomes are erased once a minute (inbox/welcomeInbox.ts).
  core.inbox.start(deps.timers, 60_000);
  core.setModeration(
    inBandModeration(moderation, {
      moderators: () => config.moderation.moderators,
      roomRole: (roomId, userId) => core.roomRole(roomId, userId),
      clock: systemClock,
    }),
  );
  const rooms = new RoomAdmin({
    shards: core.shards,
    audit: (kind, actor, roomId, detail) => moderation.audit(kind, actor, roomId, detail),
    storage: deps.storage,
    // Worker shards keep their own chains; in process they share the hub's storage.
    shardChains: layout.runtime === "worker",
    authority: { domain: config.server.domain, hubKey: toHex(deps.hubKey.publicKey) },
    ...(core.federation === undefined
      ? {}
      : { federated: (roomId: bigint) => core.federation?.roomAuthority(roomId) }),
    onDeleted: (creator) => core.roomDeleted(creator),
  });
  // A room deletion a crash interrupted is finished before anything else is asked of it.
  void rooms.resumeDeletions().then(
    (done) => {
      if (done.length > 0)
        log.warn({ rooms: done.map(String) }, "finished interrupted room deletions");
    },
    (e: unknown) => log.error({ err: String(e) }, "resuming room deletions failed"),
  );
  const identity: IdentityAdmin = {
    devices: core.devices,
    storage: deps.storage,
    memberships: rooms,
    enrollment: config.auth.methods.includes("enrollment")
      ? new Enrollment({
          storage: deps.storage,
          clock: deps.clock,
          rng: deps.rng,
          domain: config.server.domain,
          codeTtlSeconds: config.auth.enrollment_code_ttl_s,
        })
      : undefined,
  };
  log.info(
    { core: "hub", auth_methods: config.auth.methods, ...layoutFields(layout) },
    "core ready",
  );
  return { host, hubCore: core, moderation, layout, identity, rooms };
}

/** /metrics, /healthz, /readyz and the admin API on `monitoring.listen` (none when empty). */
export async function startMonitoringEndpoint(
  daemon: Daemon,
  config: Config,
  metrics: Metrics,
  moderation: Moderation | undefined,
  identity?: IdentityAdmin,
  rooms?: RoomAdmin,
  /** Federated rooms' authority routes (absent: federation disabled). */
  authority?: AdminApiOptions["authority"],
): Promise<Monitoring | undefined> {
  const mon = parseAddress(config.monitoring.listen);
  if (!mon) return undefined;
  const token = () => daemon.adminToken;
  const m = await startMonitoring({
    host: mon.host,
    port: mon.port,
    registry: metrics.registry,
    readiness: () => daemon.readiness(),
    adminToken: token,
    ...(moderation === undefined
      ? {}
      : {
          admin: new AdminApi({
            moderation,
            token,
            clock: systemClock,
            ...(identity === undefined ? {} : { identity }),
            ...(rooms === undefined ? {} : { rooms }),
            ...(authority === undefined ? {} : { authority }),
          }),
        }),
  });
  m.server.unref();
  return { port: m.port, close: () => new Promise<void>((r) => m.server.close(() => r())) };
}

export function layoutFields(layout: ShardLayout | undefined): Record<string, unknown> {
  return layout === undefined ? {} : { shards: layout.shards, shard_runtime: layout.runtime };
}

/** How long a storage or shard probe's answer is reused by /readyz (readiness.ts `cached`). */
export const PROBE_TTL_MS = 1000;

/**
 * The checks behind /readyz (readinessChecks.ts): not draining; every storage directory
 * writable (the hub's and, with worker shards, each `shard-<i>`); every shard worker alive
 * and answering; every `monitoring.required_peers` link up.
 */
export function readinessChecks(o: {
  accepting: () => boolean;
  dataDir: string;
  hub: StartedHub;
  requiredPeers: () => readonly string[];
  peerLinks: PeerLinkSource;
}): ReadinessCheck[] {
  const dirs = [{ label: "data", path: o.dataDir }];
  const layout = o.hub.layout;
  if (layout?.runtime === "worker") {
    for (let i = 0; i < layout.shards; i++) {
      dirs.push({ label: `shard-${i}`, path: shardPath(o.dataDir, i) });
    }
  }
  const checks = [drainingCheck(o.accepting), cached(storageCheck(dirs), PROBE_TTL_MS)];
  const shards = o.hub.hubCore?.shards;
  if (shards instanceof WorkerShards) checks.push(cached(shardsCheck(shards), PROBE_TTL_MS));
  checks.push(peerLinksCheck(o.requiredPeers, o.peerLinks));
  return checks;
}
