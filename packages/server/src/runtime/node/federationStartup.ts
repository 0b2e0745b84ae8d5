/**
 * The hub links as kalandrad builds them (daemon.ts): nothing when `[federation] enabled`
 * is false (the hub behaves as before federation: FED_HELLO is refused like any frame
 * before HELLO); otherwise FederationLinks over a WebSocket dialer, this hub presenting
 * `server.domain` and its hub key, link states reported to readiness and refusals to the
 * audit chain. Once the hub (and its federation core) exists, `driveRoomAuthority` ticks the
 * core's transfer/failover clock and samples the rooms' authority into metrics.
 */
import type { Clock, Rng, Timers } from "@kalandra/proto";
import type { Logger } from "pino";
import type { Config } from "../../config/schema.js";
import type { FederationCore } from "../../federation/federationCore.js";
import type { AuditRecord } from "../../storage/types.js";
import {
  AuthorityDriver,
  type AuthorityMetrics,
  createAuthorityMetrics,
} from "./federation/authorityDriver.js";
import { FederationLinks } from "./federation/federationLinks.js";
import { createLinkMetrics } from "./federation/linkMetrics.js";
import { registerRelayMetrics } from "./federation/relayMetrics.js";
import { registerTrustMetrics } from "./federation/trustMetrics.js";
import { wsDialer } from "./federation/wsDialer.js";
import type { Metrics } from "./metrics.js";
import type { PeerLinks } from "./peerLinks.js";
import { type HubKey, hubKeySigner } from "./wire.js";

export interface OpenLinksDeps {
  config: Config;
  hubKey: HubKey;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  metrics: Metrics;
  board: PeerLinks;
  audit: (record: AuditRecord) => Promise<void>;
  log: Logger;
}

export function openFederationLinks(d: OpenLinksDeps): FederationLinks | undefined {
  if (!d.config.federation.enabled) return undefined;
  return new FederationLinks({
    self: { domain: d.config.server.domain.toLowerCase(), signer: hubKeySigner(d.hubKey) },
    config: d.config.federation,
    clock: d.clock,
    rng: d.rng,
    timers: d.timers,
    metrics: createLinkMetrics(d.metrics.registry),
    board: d.board,
    audit: d.audit,
    dialer: wsDialer({ maxPayloadBytes: d.config.limits.max_payload_bytes }),
    log: d.log.child({ component: "federation" }),
  });
}

/**
 * The federation core's clock and the room-authority metrics (authorityDriver.ts), started;
 * the core's refusals and term-trust metrics (trustMetrics.ts), read at each scrape.
 */
export function driveRoomAuthority(
  core: FederationCore,
  d: { timers: Timers; metrics: Metrics; log: Logger },
): { driver: AuthorityDriver; metrics: AuthorityMetrics } {
  const metrics = createAuthorityMetrics(d.metrics.registry);
  registerTrustMetrics(d.metrics.registry, core);
  const driver = new AuthorityDriver({
    core: {
      domain: core.domain,
      tick: () => core.tick(),
      roomAuthority: (roomId) => core.roomAuthority(roomId),
      federatedRooms: () => core.book.knownRooms(),
    },
    timers: d.timers,
    metrics,
    log: d.log.child({ component: "federation" }),
  });
  // Onward relay's count, read at scrape (relayMetrics.ts).
  registerRelayMetrics(d.metrics.registry, core.relay);
  driver.start();
  return { driver, metrics };
}
