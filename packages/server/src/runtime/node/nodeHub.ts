/**
 * The hub in the Node runtime: the one HubHost (hub/hubHost.ts) over a HubCore whose shards
 * are worker threads (or in-process), with the wall clock, and an observer feeding
 * /metrics: request → response latencies (hrtime), refusals by code, and the room and
 * member gauges read from the cores when scraped.
 */

import {
  decodeErrorPayload,
  Flag,
  FrameHeader,
  HEADER_SIZE,
  maySend,
  Opcode,
  opcodeTraits,
} from "@kalandra/proto";
import { ed25519KeySigner, ed25519SeedOf } from "@kalandra/proto/node";
import type { Gauge } from "prom-client";
import type { Config } from "../../config/schema.js";
import type { FederationSetup } from "../../federation/contract.js";
import { DEFAULT_HUB_LIMITS, HubCore } from "../../hub/hubCore.js";
import { type HostLimits, type HostObserver, HubHost } from "../../hub/hubHost.js";
import { WelcomeInbox } from "../../inbox/welcomeInbox.js";
import { syncBans } from "../../moderation/roomData.js";
import { shardModeration } from "../../moderation/shardModeration.js";
import { publicGroupViews } from "../../sequencer/publicGroupViews.js";
import type { ShardSet } from "../../shards/shardSet.js";
import type { AttachmentLimits } from "../../vocabulary/attachmentLimits.js";
import type { Ban, BanPolicy } from "../../vocabulary/bans.js";
import type { Sink } from "../../vocabulary/target.js";
import { buildAuthentication } from "./authMethods.js";
import type { CoreDeps } from "./daemon.js";
import type { Metrics } from "./metrics.js";
import { createHubSigner } from "./shards/hubSigner.js";
import { WorkerShards } from "./shards/workerShards.js";

/**
 * Requests answered only once something is durably appended (the storage latency
 * histogram): a client's sequenced frames, and moderation, which appends removals,
 * redactions and audit entries.
 */
function answeredAfterAppend(opcode: number): boolean {
  const t = opcodeTraits(opcode);
  return t !== undefined && maySend(opcode, "client") && (t.sequenced || t.family === "moderation");
}
const MAX_PENDING = 100_000;

export interface NodeHubOptions {
  bans?: BanPolicy & { list?(): Ban[]; onChange?(fn: (bans: Ban[]) => void): void };
  /**
   * Worker-thread shards, each over its own LMDB directory `<path>/shard-<i>` (the hub's
   * `deps.storage` then holds key packages and the audit log only). Without, the shards run
   * in this thread over `deps.storage`.
   */
  workers?: {
    count: number;
    path: string;
    /** A worker stopped without being closed (its rooms answer INTERNAL from then on). */
    onFailure?: (index: number, error: Error) => void;
    /** Module URL exporting `setupShard` (default shards/setup.ts). */
    setupModule?: string;
  };
  /** Federation (DESIGN §11): peers and links (runtime/node/federation/ builds them). */
  federation?: FederationSetup;
}

/** The room and member limits of a configuration, as HubCore takes them. */
/** The host's limits: per-device rates, per-address and per-user session caps. */
export function hostLimits(c: Config): Required<HostLimits> {
  const l = c.limits;
  return {
    deviceRatePerSec: l.device_rate,
    deviceBurst: l.device_burst,
    maxConnectionsPerIp: l.max_connections_per_ip,
    maxSessionsPerUser: l.max_sessions_per_user,
  };
}

export function roomLimits(c: Config): {
  maxRooms: number;
  maxRoomsPerUser: number;
  maxRoomCreationsPerMinute: number;
  maxMembersPerRoom: number;
} {
  return {
    maxRooms: c.limits.max_rooms,
    maxRoomsPerUser: c.limits.max_rooms_per_user,
    maxRoomCreationsPerMinute: c.limits.max_room_creations_per_minute,
    maxMembersPerRoom: c.limits.max_members_per_room,
  };
}

/** The `[attachments]` limits of a configuration, as every shard's blob service takes them. */
export function attachmentLimits(c: Config): AttachmentLimits {
  const a = c.attachments;
  return {
    maxBlobBytes: a.max_blob_bytes,
    userQuotaBytes: a.user_quota_bytes,
    roomQuotaBytes: a.room_quota_bytes,
    unreferencedGraceMs: a.unreferenced_grace_ms,
    uploadExpiryMs: a.upload_expiry_ms,
  };
}

/** The Welcome inbox and key-package claim limits of a configuration, as HubCore takes them. */
export function inboxLimits(c: Config): {
  welcomeTtlS: number;
  welcomesPerDevice: number;
  kpClaimsPerMinPerClaimer: number;
  kpClaimsPerMinPerTarget: number;
} {
  return {
    welcomeTtlS: c.limits.welcome_ttl_s,
    welcomesPerDevice: c.limits.welcome_inbox_per_device,
    kpClaimsPerMinPerClaimer: c.limits.kp_claims_per_min_per_claimer,
    kpClaimsPerMinPerTarget: c.limits.kp_claims_per_min_per_target,
  };
}

/** Opens kalandrad's hub: HubHost + HubCore + shards, metrics wired. */
export async function openNodeHub(
  deps: CoreDeps,
  o: NodeHubOptions = {},
): Promise<HubHost<HubCore>> {
  const c = deps.config;
  const metrics = deps.metrics;
  const authentication = await buildAuthentication({
    config: c,
    storage: deps.storage,
    clock: deps.clock,
    rng: deps.rng,
  });
  if (authentication.selfNamed) {
    deps.log.warn(
      { auth_methods: c.auth.methods },
      'auth.methods includes "dev": users name themselves (development only; every listener is on loopback)',
    );
  }
  const host = await HubHost.open(
    {
      clock: deps.clock,
      limits: hostLimits(c),
      observer: metricsObserver(metrics, deps.log),
    },
    async (sink, control) => {
      // Welcomes leave the shards (worker threads too) through this sink and are kept in
      // the main storage's inbox on their way (inbox/welcomeInbox.ts).
      const inbox = new WelcomeInbox(deps.storage, deps.clock, inboxLimits(c));
      const toHub = inbox.capture(sink);
      // What a worker emits for a room this hub no longer sequences (a request routed before
      // a failover deposed it) is dropped, never shown (FederationCore.staleShardOutput).
      let hub: HubCore | undefined;
      const workerSink: Sink = (t, f) => {
        if (hub?.federation?.staleShardOutput(t, f) !== true) toHub(t, f);
      };
      let shards: ShardSet | undefined;
      if (o.workers !== undefined) {
        shards = await WorkerShards.start({
          count: o.workers.count,
          hubSeed: ed25519SeedOf(deps.hubKey.privateKey),
          sink: workerSink,
          setupOptions: {
            path: o.workers.path,
            hubKey: deps.hubKey.publicKey,
            noSync: c.database.sync === "none",
          },
          limits: {
            maxMembersPerRoom: c.limits.max_members_per_room,
            maxPayload: c.limits.max_payload_bytes,
            attachments: attachmentLimits(c),
          },
          maxBatch: DEFAULT_HUB_LIMITS.maxBatch,
          ...(o.federation === undefined
            ? {}
            : { federation: { domain: o.federation.peers.domain } }),
          ...(o.workers.onFailure === undefined ? {} : { onFailure: o.workers.onFailure }),
          ...(o.workers.setupModule === undefined ? {} : { setupModule: o.workers.setupModule }),
        });
      }
      hub = await HubCore.open({
        storage: deps.storage,
        clock: deps.clock,
        rng: deps.rng,
        timers: deps.timers,
        // In-process shards sequence on this thread: their ACKs are signed on the signing
        // thread (issue 15). Worker shards sign in their own threads (workerMain.ts).
        hubSigner:
          o.workers === undefined
            ? createHubSigner(deps.hubKey.privateKey)
            : ed25519KeySigner(deps.hubKey.privateKey),
        sink,
        groups: publicGroupViews(deps.hubKey.publicKey),
        shardModeration,
        authentication,
        closeDevice: control.closeDevice,
        inbox,
        limits: {
          ...roomLimits(c),
          ...inboxLimits(c),
          maxPayload: c.limits.max_payload_bytes,
          attachments: attachmentLimits(c),
          maxKeyPackagesPerDevice: c.limits.max_key_packages_per_device,
          shards: c.server.shards === 0 ? 1 : c.server.shards,
        },
        ...(o.bans === undefined ? {} : { bans: o.bans }),
        ...(shards === undefined ? {} : { shards }),
        ...(o.federation === undefined ? {} : { federation: o.federation }),
      });
      return hub;
    },
  );
  const bans = o.bans;
  if (o.workers !== undefined && bans?.list !== undefined && bans.onChange !== undefined) {
    syncBans(host.core.shards, {
      list: () => bans.list?.() ?? [],
      onChange: (fn) => bans.onChange?.(fn),
    });
  }
  // Both gauges read the cores' state when scraped, never a count kept on the side.
  const core = host.core;
  collect(metrics.rooms, () => core.roomCount);
  collect(metrics.roomMembers, () => memberCount(core));
  return host;
}

function collect(gauge: Gauge, value: () => number | Promise<number>): void {
  (gauge as Gauge & { collect?: () => Promise<void> }).collect = async () => {
    gauge.set(await value());
  };
}

/** Member devices summed over every room, as the shards' sequencers hold them. */
async function memberCount(core: HubCore): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: core.shards.count }, (_, i) =>
      core.shards.deliver(i, { t: "query", query: { q: "members" } }),
    ),
  );
  let n = 0;
  for (const r of counts) if (r?.ok === true) n += (r as { data?: number }).data ?? 0;
  return n;
}

/**
 * Request → response latency and refusals by code; refused key-package claims (a drain
 * under way, issue 12) are also logged, at most once a second with the count since.
 */
function metricsObserver(metrics: Metrics, log: CoreDeps["log"]): HostObserver {
  const pending = new Map<string, { t: bigint; opcode: number }>();
  const claims = { refused: 0, loggedAt: 0 };
  return {
    received(sessionId, frame) {
      const h = frame.header;
      if (!answeredAfterAppend(h.opcode)) return;
      // Requests whose session vanished never get a response: forget them wholesale.
      if (pending.size >= MAX_PENDING) pending.clear();
      pending.set(`${sessionId}/${h.requestId}`, { t: process.hrtime.bigint(), opcode: h.opcode });
    },
    emitted(target, frame) {
      if (target.kind !== "session") return;
      const h = FrameHeader.view(frame);
      if ((h.flags & Flag.RESPONSE) === 0) return;
      const ok = h.opcode !== Opcode.ERROR;
      if (!ok) {
        try {
          const e = decodeErrorPayload(frame.subarray(HEADER_SIZE));
          metrics.framesRejected.inc({ code: e.name });
          if (e.name === "CLAIM_RATE_LIMITED") {
            claims.refused++;
            if (Date.now() - claims.loggedAt >= 1000) {
              log.warn(
                { session: target.sessionId, refused: claims.refused, reason: e.message },
                "key-package claims refused over the rate limit",
              );
              claims.loggedAt = Date.now();
              claims.refused = 0;
            }
          }
        } catch {
          // the hub's own error frames always decode
        }
      }
      const key = `${target.sessionId}/${h.requestId}`;
      const p = pending.get(key);
      if (!p) return;
      pending.delete(key);
      const seconds = Number(process.hrtime.bigint() - p.t) / 1e9;
      if (ok) metrics.storageAppend.observe(seconds);
      if (p.opcode === Opcode.COMMIT) metrics.commitDuration.observe(seconds);
    },
  };
}
